package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sync/errgroup"
)

// azureStore keeps objects as block blobs. Large uploads stage blocks in parallel and commit the
// block list last; uncommitted blocks are invisible and the service discards them.
type azureStore struct {
	uri    URI
	cont   *container.Client
	tuning Tuning
}

func openAzure(ctx context.Context, u URI, c Credentials) (*azureStore, error) {
	cred, err := azblob.NewSharedKeyCredential(c.WABSAccountName, c.WABSAccessKey)
	if err != nil {
		return nil, fmt.Errorf("%w: wabs_access_key: %v", ErrAuth, err)
	}
	endpoint := c.AzureEndpoint
	if endpoint == "" {
		endpoint = "https://" + c.WABSAccountName + ".blob.core.windows.net/"
	} else if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	endpoint = strings.TrimRight(endpoint, "/") + "/"
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     policy.RetryOptions{MaxRetries: 4},
		Telemetry: policy.TelemetryOptions{ApplicationID: "pgcharm-archive"},
	}}
	client, err := azblob.NewClientWithSharedKeyCredential(endpoint, cred, opts)
	if err != nil {
		return nil, err
	}
	s := &azureStore{uri: u, cont: client.ServiceClient().NewContainerClient(u.Bucket), tuning: DefaultTuning}
	if _, err := s.cont.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("create container %s: %w", u.Bucket, azureErr(err))
	}
	return s, nil
}

func azureErr(err error) error {
	if err == nil {
		return nil
	}
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		// Never ErrNotFound: a vanished container must not look like a missing WAL segment.
		return fmt.Errorf("container does not exist: %w", err)
	}
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ResourceNotFound) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.InvalidAuthenticationInfo) {
		return fmt.Errorf("%w: check wabs_account_name and wabs_access_key: %v", ErrAuth, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case http.StatusForbidden, http.StatusUnauthorized:
			return fmt.Errorf("%w: check wabs_account_name and wabs_access_key: %v", ErrAuth, err)
		}
	}
	return err
}

func (s *azureStore) String() string { return describe(s.uri) }

func (s *azureStore) key(name string) string { return keyPrefix(s.uri) + name }

func (s *azureStore) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	t := s.tuning.withDefaults()
	bb := s.cont.NewBlockBlobClient(s.key(name))
	// UploadStream sends a small object in one request and otherwise stages blocks from a bounded
	// set of buffers, committing the block list only after the reader reached EOF.
	_, err := bb.UploadStream(ctx, r, &blockblob.UploadStreamOptions{BlockSize: t.PartSize, Concurrency: t.Concurrency})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", s.uri, name, azureErr(err))
	}
	return nil
}

func (s *azureStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	resp, err := s.cont.NewBlobClient(s.key(name)).DownloadStream(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", s.uri, name, azureErr(err))
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3}), nil
}

func (s *azureStore) Stat(ctx context.Context, name string) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	p, err := s.cont.NewBlobClient(s.key(name)).GetProperties(ctx, nil)
	if err != nil {
		return Object{}, fmt.Errorf("stat %s/%s: %w", s.uri, name, azureErr(err))
	}
	o := Object{Name: name}
	if p.ContentLength != nil {
		o.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		o.Modified = *p.LastModified
	}
	return o, nil
}

func (s *azureStore) List(ctx context.Context, prefix string) ([]Object, error) {
	base := keyPrefix(s.uri)
	full := base + prefix
	pager := s.cont.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	var objs []Object
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", s.uri, prefix, azureErr(err))
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || !strings.HasPrefix(*b.Name, base) {
				continue
			}
			o := Object{Name: (*b.Name)[len(base):]}
			if b.Properties != nil {
				if b.Properties.ContentLength != nil {
					o.Size = *b.Properties.ContentLength
				}
				if b.Properties.LastModified != nil {
					o.Modified = *b.Properties.LastModified
				}
			}
			objs = append(objs, o)
		}
	}
	return sortObjects(objs), nil
}

func (s *azureStore) Delete(ctx context.Context, names ...string) error {
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range names {
		g.Go(func() error {
			_, err := s.cont.NewBlobClient(s.key(n)).Delete(gctx, &blob.DeleteOptions{DeleteSnapshots: to(blob.DeleteSnapshotsOptionTypeInclude)})
			if err = azureErr(err); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("delete %s/%s: %w", s.uri, n, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func to[T any](v T) *T { return &v }

func (s *azureStore) setTuning(t Tuning) { s.tuning = t }
