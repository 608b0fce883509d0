package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ncw/swift/v2"
	"golang.org/x/sync/errgroup"
)

// swiftMaxSegments is Swift's default max_manifest_segments.
const swiftMaxSegments = 1000

// swiftStore keeps objects in a Swift container. Objects that fit one part go up in a single PUT
// whose ETag the proxy verifies before storing; larger ones become static large objects whose
// segments live in the companion container "<container>_segments" (Swift's convention), so they
// never appear in the archive's listing, and whose manifest is written last.
type swiftStore struct {
	uri    URI
	conn   *swift.Connection
	segs   string // segment container
	tuning Tuning

	segOnce sync.Once
	segErr  error
}

// swiftAuthVersion picks the Keystone/tempauth version from os_identity_api_version, else from the
// auth URL's path; 0 lets the client detect it.
func swiftAuthVersion(c Credentials) int {
	switch strings.TrimPrefix(strings.TrimSpace(c.OSIdentityAPIVersion), "v") {
	case "1", "1.0":
		return 1
	case "2", "2.0":
		return 2
	case "3", "3.0":
		return 3
	}
	u := strings.TrimRight(c.OSAuthURL, "/")
	switch {
	case strings.HasSuffix(u, "/v1.0") || strings.HasSuffix(u, "/auth/v1.0"):
		return 1
	case strings.HasSuffix(u, "/v2.0"):
		return 2
	case strings.HasSuffix(u, "/v3"):
		return 3
	}
	return 0
}

func openSwift(ctx context.Context, u URI, c Credentials) (*swiftStore, error) {
	conn := &swift.Connection{
		AuthUrl:        c.OSAuthURL,
		UserName:       c.OSUsername,
		ApiKey:         c.OSPassword,
		Region:         c.OSRegionName,
		AuthVersion:    swiftAuthVersion(c),
		Domain:         c.OSUserDomainName,
		TenantDomain:   c.OSProjectDomainName,
		Tenant:         c.OSProjectName,
		Retries:        3,
		ConnectTimeout: 15 * time.Second,
		Timeout:        2 * time.Minute,
		UserAgent:      "pgcharm-archive/1",
	}
	if conn.Tenant == "" {
		conn.Tenant = c.OSTenantName
	}
	s := &swiftStore{uri: u, conn: conn, segs: u.Bucket + "_segments", tuning: DefaultTuning}
	if err := conn.Authenticate(ctx); err != nil {
		return nil, swiftErr(err)
	}
	if err := conn.ContainerCreate(ctx, u.Bucket, nil); err != nil {
		return nil, fmt.Errorf("create container %s: %w", u.Bucket, swiftErr(err))
	}
	return s, nil
}

func swiftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, swift.ContainerNotFound):
		// Never ErrNotFound: a vanished container must not look like a missing WAL segment.
		return fmt.Errorf("container does not exist: %w", err)
	case errors.Is(err, swift.ObjectNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, swift.AuthorizationFailed):
		return fmt.Errorf("%w: swift authentication failed: check os_auth_url, os_username, os_password, the project/tenant and domain names: %v", ErrAuth, err)
	}
	var se *swift.Error
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: swift refused access: check the credentials and the account's permissions: %v", ErrAuth, err)
		}
	}
	return err
}

func (s *swiftStore) String() string { return describe(s.uri) }

func (s *swiftStore) key(name string) string { return keyPrefix(s.uri) + name }

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// putBytes stores data with its MD5 as ETag, which the object server checks before committing.
func (s *swiftStore) putBytes(ctx context.Context, container, obj string, data []byte) (string, error) {
	etag := md5hex(data)
	_, err := s.conn.ObjectPut(ctx, container, obj, bytesReader(data), false, etag, "application/octet-stream",
		swift.Headers{"Content-Length": fmt.Sprint(len(data))})
	return etag, swiftErr(err)
}

type sloSegment struct {
	Path string `json:"path"`
	Etag string `json:"etag"`
	Size int64  `json:"size_bytes"`
}

func (s *swiftStore) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	key := s.key(name)
	segPrefix := fmt.Sprintf("%s/slo/%d-%s/", key, time.Now().UnixNano(), randomHex(4))
	var (
		mu       sync.Mutex
		segments = map[int]sloSegment{}
	)
	up := partUploader{
		tuning:    s.tuning,
		growEvery: swiftMaxSegments / 5,
		maxPart:   4 << 30,
		single: func(ctx context.Context, data []byte) error {
			_, err := s.putBytes(ctx, s.uri.Bucket, key, data)
			return err
		},
		begin: func(ctx context.Context) error {
			s.segOnce.Do(func() { s.segErr = swiftErr(s.conn.ContainerCreate(ctx, s.segs, nil)) })
			if s.segErr != nil {
				return fmt.Errorf("create segment container %s: %w", s.segs, s.segErr)
			}
			return nil
		},
		upload: func(ctx context.Context, n int, data []byte) error {
			if n > swiftMaxSegments {
				return fmt.Errorf("object needs more than %d segments", swiftMaxSegments)
			}
			seg := fmt.Sprintf("%s%08d", segPrefix, n)
			etag, err := s.putBytes(ctx, s.segs, seg, data)
			if err != nil {
				return err
			}
			mu.Lock()
			segments[n] = sloSegment{Path: "/" + s.segs + "/" + seg, Etag: etag, Size: int64(len(data))}
			mu.Unlock()
			return nil
		},
	}
	n, err := up.run(ctx, r)
	if err == nil && n > 0 {
		err = s.putManifest(ctx, key, n, segments)
	}
	if err != nil {
		if len(segments) > 0 {
			names := make([]string, 0, len(segments))
			for _, sg := range segments {
				names = append(names, strings.TrimPrefix(sg.Path, "/"+s.segs+"/"))
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_ = s.deleteObjects(dctx, s.segs, names)
			cancel()
		}
		return fmt.Errorf("put %s/%s: %w", s.uri, name, err)
	}
	return nil
}

func (s *swiftStore) putManifest(ctx context.Context, key string, n int, segments map[int]sloSegment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	list := make([]sloSegment, 0, n)
	for i := 1; i <= n; i++ {
		sg, ok := segments[i]
		if !ok {
			return fmt.Errorf("segment %d missing from manifest", i)
		}
		list = append(list, sg)
	}
	body, err := json.Marshal(list)
	if err != nil {
		return err
	}
	_, _, err = s.conn.Call(ctx, s.conn.StorageUrl, swift.RequestOpts{
		Container:  s.uri.Bucket,
		ObjectName: key,
		Operation:  http.MethodPut,
		Parameters: url.Values{"multipart-manifest": {"put"}},
		Headers:    swift.Headers{"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(len(body))},
		Body:       bytes.NewReader(body),
		NoResponse: true,
		OnReAuth:   func() (string, error) { return s.conn.StorageUrl, nil },
	})
	if err != nil {
		return fmt.Errorf("write manifest: %w", swiftErr(err))
	}
	return nil
}

func (s *swiftStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, _, err := s.conn.ObjectOpen(ctx, s.uri.Bucket, s.key(name), false, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", s.uri, name, swiftErr(err))
	}
	return f, nil
}

func (s *swiftStore) Stat(ctx context.Context, name string) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	info, _, err := s.conn.Object(ctx, s.uri.Bucket, s.key(name))
	if err != nil {
		return Object{}, fmt.Errorf("stat %s/%s: %w", s.uri, name, swiftErr(err))
	}
	return Object{Name: name, Size: info.Bytes, Modified: info.LastModified}, nil
}

func (s *swiftStore) List(ctx context.Context, prefix string) ([]Object, error) {
	base := keyPrefix(s.uri)
	all, err := s.conn.ObjectsAll(ctx, s.uri.Bucket, &swift.ObjectsOpts{Prefix: base + prefix})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", s.uri, prefix, swiftErr(err))
	}
	objs := make([]Object, 0, len(all))
	for _, o := range all {
		if o.PseudoDirectory || !strings.HasPrefix(o.Name, base) {
			continue
		}
		objs = append(objs, Object{Name: o.Name[len(base):], Size: o.Bytes, Modified: o.LastModified})
	}
	return sortObjects(objs), nil
}

func (s *swiftStore) Delete(ctx context.Context, names ...string) error {
	keys := make([]string, 0, len(names))
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
		keys = append(keys, s.key(n))
	}
	if len(keys) == 0 {
		return nil
	}
	// Objects (and manifests) first, so that no reader meets a manifest without its segments.
	if err := s.deleteObjects(ctx, s.uri.Bucket, keys); err != nil {
		return fmt.Errorf("delete from %s: %w", s.uri, err)
	}
	segs, err := s.segmentsOf(ctx, keys)
	if err == nil {
		err = s.deleteObjects(ctx, s.segs, segs)
	}
	if err != nil {
		return fmt.Errorf("delete segments of large objects from %s: %w", s.segs, err)
	}
	return nil
}

// segmentsOf lists the segments that belong to keys, named "<key>/slo/<upload>/<number>" in the
// segment container, with one listing of the keys' common prefix.
func (s *swiftStore) segmentsOf(ctx context.Context, keys []string) ([]string, error) {
	want := make(map[string]bool, len(keys))
	common := keys[0]
	for _, k := range keys {
		want[k] = true
		for !strings.HasPrefix(k, common) {
			common = common[:len(common)-1]
		}
	}
	all, err := s.conn.ObjectNamesAll(ctx, s.segs, &swift.ObjectsOpts{Prefix: common})
	if errors.Is(err, swift.ContainerNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, swiftErr(err)
	}
	var segs []string
	for _, seg := range all {
		parts := strings.Split(seg, "/")
		if len(parts) < 4 || parts[len(parts)-3] != "slo" {
			continue
		}
		if want[strings.Join(parts[:len(parts)-3], "/")] {
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

// deleteObjects deletes in parallel; objects already gone are not an error.
func (s *swiftStore) deleteObjects(ctx context.Context, container string, keys []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			err := swiftErr(s.conn.ObjectDelete(ctx, container, k))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%s: %w", k, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (s *swiftStore) setTuning(t Tuning) { s.tuning = t }
