package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// gcsStore keeps objects in a Cloud Storage bucket. Uploads are resumable sessions of PartSize
// chunks; the object exists only once the last chunk is accepted, and an upload whose context is
// cancelled is abandoned.
type gcsStore struct {
	uri    URI
	client *storage.Client
	bucket *storage.BucketHandle
	tuning Tuning
}

func openGCS(ctx context.Context, u URI, c Credentials) (*gcsStore, error) {
	var opts []option.ClientOption
	project := "archive"
	if c.GCSCredentials != "" {
		var sa struct {
			ProjectID string `json:"project_id"`
			Type      string `json:"type"`
		}
		if err := json.Unmarshal([]byte(c.GCSCredentials), &sa); err != nil {
			return nil, fmt.Errorf("gcs_credentials is not a service-account JSON document: %v", err)
		}
		if sa.ProjectID != "" {
			project = sa.ProjectID
		}
		opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, []byte(c.GCSCredentials)))
	}
	if c.GCSEndpoint != "" {
		ep := c.GCSEndpoint
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		ep = strings.TrimRight(ep, "/")
		if !strings.HasSuffix(ep, "/storage/v1") {
			ep += "/storage/v1"
		}
		opts = append(opts, option.WithEndpoint(ep+"/"))
		if c.GCSCredentials == "" {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	s := &gcsStore{uri: u, client: client, bucket: client.Bucket(u.Bucket), tuning: DefaultTuning}
	// Retry every call, uploads included (a retried upload of a name writes the same bytes), but a
	// bounded number of times: an unreachable store must fail the call, not hang it.
	s.bucket = s.bucket.Retryer(storage.WithPolicy(storage.RetryAlways), storage.WithMaxAttempts(5))
	if _, err := s.bucket.Attrs(ctx); err != nil {
		if errors.Is(gcsErr(err), ErrAuth) && c.GCSCredentials != "" {
			// roles/storage.objectAdmin may not read bucket metadata; Check tells whether the
			// account can do what the archive needs.
			return s, nil
		}
		if !errors.Is(err, storage.ErrBucketNotExist) {
			client.Close()
			return nil, fmt.Errorf("bucket %s: %w", u.Bucket, gcsErr(err))
		}
		if err := s.bucket.Create(ctx, project, nil); err != nil && !isGCSStatus(err, http.StatusConflict) {
			client.Close()
			return nil, fmt.Errorf("create bucket %s: %w", u.Bucket, gcsErr(err))
		}
	}
	return s, nil
}

func isGCSStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

func gcsErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrBucketNotExist):
		// Never ErrNotFound: a vanished bucket must not look like a missing WAL segment.
		return fmt.Errorf("bucket does not exist: %w", err)
	case errors.Is(err, storage.ErrObjectNotExist) || isGCSStatus(err, http.StatusNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case isGCSStatus(err, http.StatusUnauthorized) || isGCSStatus(err, http.StatusForbidden):
		return fmt.Errorf("%w: check gcs_credentials and the service account's roles on the bucket: %v", ErrAuth, err)
	}
	return err
}

func (s *gcsStore) String() string { return describe(s.uri) }

func (s *gcsStore) key(name string) string { return keyPrefix(s.uri) + name }

func (s *gcsStore) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.bucket.Object(s.key(name)).NewWriter(ctx)
	w.ChunkSize = int(s.tuning.withDefaults().PartSize)
	w.ContentType = "application/octet-stream"
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abandons the upload session; Close then reports the cancellation
		_ = w.Close()
		return fmt.Errorf("put %s/%s: %w", s.uri, name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("put %s/%s: %w", s.uri, name, gcsErr(err))
	}
	return nil
}

func (s *gcsStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := s.bucket.Object(s.key(name)).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", s.uri, name, gcsErr(err))
	}
	return r, nil
}

func (s *gcsStore) Stat(ctx context.Context, name string) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	a, err := s.bucket.Object(s.key(name)).Attrs(ctx)
	if err != nil {
		return Object{}, fmt.Errorf("stat %s/%s: %w", s.uri, name, gcsErr(err))
	}
	return Object{Name: name, Size: a.Size, Modified: a.Updated}, nil
}

func (s *gcsStore) List(ctx context.Context, prefix string) ([]Object, error) {
	base := keyPrefix(s.uri)
	q := &storage.Query{Prefix: base + prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
		return nil, err
	}
	it := s.bucket.Objects(ctx, q)
	var objs []Object
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", s.uri, prefix, gcsErr(err))
		}
		if !strings.HasPrefix(a.Name, base) {
			continue
		}
		objs = append(objs, Object{Name: a.Name[len(base):], Size: a.Size, Modified: a.Updated})
	}
	return sortObjects(objs), nil
}

func (s *gcsStore) Delete(ctx context.Context, names ...string) error {
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range names {
		g.Go(func() error {
			err := s.bucket.Object(s.key(n)).Delete(gctx)
			if err = gcsErr(err); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("delete %s/%s: %w", s.uri, n, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (s *gcsStore) setTuning(t Tuning) { s.tuning = t }
