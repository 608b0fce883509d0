// Package store holds the object stores an archive lives in: one small streaming interface and a
// backend per storage service (S3, Swift, Azure Blob, GCS, local files), each built on the
// service's own client library. Objects are written atomically so that a crashed or killed upload
// never leaves something that a reader could take for a complete WAL segment or backup part.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) by Get and Stat when the object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrAuth is returned (wrapped) when the store rejects the credentials, so that callers can tell
// the operator to fix the configuration rather than retry.
var ErrAuth = errors.New("credentials rejected")

// Object describes one stored object.
type Object struct {
	Name     string // relative to the store's prefix, slash-separated
	Size     int64
	Modified time.Time
}

// Store is one archive prefix (bucket or container plus an optional path prefix). Names are
// slash-separated paths relative to that prefix.
type Store interface {
	// Put uploads r as name. It is atomic: the object becomes visible only once complete, and a
	// failed, cancelled or killed Put leaves no object (and never a partial replacement of an
	// existing one). Put reads r to EOF; an error from r aborts the upload.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens the object for streaming; the error wraps ErrNotFound when it does not exist.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat describes the object; the error wraps ErrNotFound when it does not exist.
	Stat(ctx context.Context, name string) (Object, error)
	// List returns every object whose name starts with prefix (recursively), sorted by Name.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes the named objects; names that do not exist are not an error.
	Delete(ctx context.Context, names ...string) error
	// String is the store's URI, never with credentials.
	String() string
}

// Credentials hold the charm's configuration options of the same name. The charm writes them to a
// JSON file readable only by postgres; the JSON keys are the option names.
type Credentials struct {
	OSAuthURL            string `json:"os_auth_url,omitempty"`
	OSUsername           string `json:"os_username,omitempty"`
	OSPassword           string `json:"os_password,omitempty"`
	OSTenantName         string `json:"os_tenant_name,omitempty"`
	OSProjectName        string `json:"os_project_name,omitempty"`
	OSRegionName         string `json:"os_region_name,omitempty"`
	OSUserDomainName     string `json:"os_user_domain_name,omitempty"`
	OSProjectDomainName  string `json:"os_project_domain_name,omitempty"`
	OSIdentityAPIVersion string `json:"os_identity_api_version,omitempty"`

	AWSAccessKeyID     string `json:"aws_access_key_id,omitempty"`
	AWSSecretAccessKey string `json:"aws_secret_access_key,omitempty"`
	AWSRegion          string `json:"aws_region,omitempty"`
	AWSEndpoint        string `json:"aws_endpoint,omitempty"` // S3-compatible stores, addressed path style

	WABSAccountName string `json:"wabs_account_name,omitempty"`
	WABSAccessKey   string `json:"wabs_access_key,omitempty"`
	AzureEndpoint   string `json:"azure_endpoint,omitempty"` // e.g. Azurite's http://HOST:10000/devstoreaccount1

	GCSCredentials string `json:"gcs_credentials,omitempty"` // service-account JSON text
	GCSEndpoint    string `json:"gcs_endpoint,omitempty"`    // emulators: http://HOST:PORT (no credentials needed then)
}

// URI is a parsed storage URI.
type URI struct {
	Scheme string // s3, swift, azure, wabs, gs or file
	Bucket string // bucket or container; empty for file
	Prefix string // path inside the bucket, without leading or trailing slash; may be empty
	Path   string // file: the absolute directory, cleaned
	// Slash says that object names begin with "/" before the prefix: WAL-E named its Swift and
	// GCS objects "/basebackups_005/..." (and "/PREFIX/basebackups_005/..."). ParseURI never
	// sets it, so no URI an operator writes changes meaning; LeadingSlash opens such a view.
	Slash bool
}

// String renders the URI in its canonical form.
func (u URI) String() string {
	if u.Scheme == "file" {
		return "file://" + u.Path
	}
	s := u.Scheme + "://" + u.Bucket
	if u.Prefix != "" {
		s += "/" + u.Prefix
	}
	return s
}

// Schemes lists the URI schemes ParseURI accepts.
var Schemes = []string{"s3", "swift", "azure", "wabs", "gs", "file"}

// ParseURI validates a storage URI: s3://bucket/prefix, swift://container/prefix,
// azure://container/prefix (wabs:// is the original charm's name for it), gs://bucket/prefix or
// file:///absolute/path.
func ParseURI(uri string) (URI, error) {
	raw := strings.TrimSpace(uri)
	if raw == "" {
		return URI{}, errors.New("storage URI is empty")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return URI{}, fmt.Errorf("storage URI %q has no scheme: expected one of %s, e.g. s3://bucket/prefix", raw, schemeList())
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "file":
		if rest == "" || !strings.HasPrefix(rest, "/") {
			return URI{}, fmt.Errorf("storage URI %q: a file URI needs an absolute path, e.g. file:///var/lib/archive", raw)
		}
		p, err := url.PathUnescape(rest)
		if err != nil {
			return URI{}, fmt.Errorf("storage URI %q: %w", raw, err)
		}
		return URI{Scheme: scheme, Path: path.Clean(p)}, nil
	case "s3", "swift", "azure", "wabs", "gs":
	default:
		return URI{}, fmt.Errorf("storage URI %q: unknown scheme %q: expected one of %s", raw, scheme, schemeList())
	}
	if strings.ContainsAny(rest, "?#") {
		return URI{}, fmt.Errorf("storage URI %q: query strings and fragments are not allowed", raw)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return URI{}, fmt.Errorf("storage URI %q has no bucket or container name, e.g. %s://NAME/prefix", raw, scheme)
	}
	if strings.Contains(bucket, "@") || strings.Contains(bucket, ":") {
		return URI{}, fmt.Errorf("storage URI %q: put credentials and endpoints in the charm's options, not in the URI", raw)
	}
	prefix = strings.Trim(prefix, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "." || seg == ".." {
			return URI{}, fmt.Errorf("storage URI %q: prefix may not contain . or .. segments", raw)
		}
	}
	for strings.Contains(prefix, "//") {
		prefix = strings.ReplaceAll(prefix, "//", "/")
	}
	return URI{Scheme: scheme, Bucket: bucket, Prefix: prefix}, nil
}

func schemeList() string {
	return strings.Join(Schemes, ", ")
}

// MissingCredentials names the options the URI's scheme needs that are empty in c, in the order an
// operator would set them, so that the charm can report them in its blocked status.
func MissingCredentials(u URI, c Credentials) []string {
	var missing []string
	need := func(name, value string) {
		if strings.TrimSpace(value) == "" {
			missing = append(missing, name)
		}
	}
	switch u.Scheme {
	case "s3":
		need("aws_access_key_id", c.AWSAccessKeyID)
		need("aws_secret_access_key", c.AWSSecretAccessKey)
	case "swift":
		need("os_auth_url", c.OSAuthURL)
		need("os_username", c.OSUsername)
		need("os_password", c.OSPassword)
		switch swiftAuthVersion(c) {
		case 2:
			if c.OSTenantName == "" && c.OSProjectName == "" {
				missing = append(missing, "os_tenant_name")
			}
		case 3:
			if c.OSProjectName == "" && c.OSTenantName == "" {
				missing = append(missing, "os_project_name")
			}
			need("os_user_domain_name", c.OSUserDomainName)
		}
	case "azure", "wabs":
		need("wabs_account_name", c.WABSAccountName)
		need("wabs_access_key", c.WABSAccessKey)
	case "gs":
		if c.GCSEndpoint == "" {
			need("gcs_credentials", c.GCSCredentials)
		}
	}
	return missing
}

// Open connects to the store named by uri, creating the bucket or container when it is missing.
func Open(ctx context.Context, uri string, c Credentials) (Store, error) {
	return OpenWith(ctx, uri, c, DefaultTuning)
}

// OpenWith is Open with explicit upload tuning (part size and parallel parts per Put), for callers
// that run many uploads at once and must bound their memory.
func OpenWith(ctx context.Context, uri string, c Credentials, t Tuning) (Store, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if m := MissingCredentials(u, c); len(m) > 0 {
		return nil, fmt.Errorf("open %s: missing credentials: %s", u, strings.Join(m, ", "))
	}
	var s Store
	switch u.Scheme {
	case "file":
		s, err = openFile(u)
	case "s3":
		s, err = openS3(ctx, u, c)
	case "swift":
		s, err = openSwift(ctx, u, c)
	case "azure", "wabs":
		s, err = openAzure(ctx, u, c)
	case "gs":
		s, err = openGCS(ctx, u, c)
	default:
		err = fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", u, err)
	}
	if ts, ok := s.(interface{ setTuning(Tuning) }); ok {
		ts.setTuning(t.withDefaults())
	}
	return s, nil
}

// LeadingSlash returns a view of the same bucket or container whose object names begin with
// "/" (URI.Slash), for reading archives WAL-E wrote; ok is false for the file store, where a
// leading slash names the same file. The view shares the connection and credentials.
func LeadingSlash(s Store) (view Store, ok bool) {
	switch b := s.(type) {
	case *s3Store:
		c := *b
		c.uri.Slash = true
		return &c, true
	case *azureStore:
		c := *b
		c.uri.Slash = true
		return &c, true
	case *gcsStore:
		c := *b
		c.uri.Slash = true
		return &c, true
	case *swiftStore:
		c := &swiftStore{uri: b.uri, conn: b.conn, segs: b.segs, tuning: b.tuning}
		c.uri.Slash = true
		return c, true
	}
	return nil, false
}

// describe renders a store's URI for messages, noting a leading-slash view.
func describe(u URI) string {
	if u.Slash {
		return u.String() + " (object names beginning with /)"
	}
	return u.String()
}

// ProbeFolder holds Check's probe objects, beside the archive's basebackups_005/ and wal_005/
// and apart from anything else at the prefix: Check lists, writes and deletes nothing
// outside it, so a probe can never take the name of, or be mistaken for, someone's object.
const ProbeFolder = "pgcharm_probe/"

// Check verifies, once when the configuration changes, that the credentials allow everything the
// archive does: it lists, writes, reads back and deletes a probe object under ProbeFolder.
func Check(ctx context.Context, s Store) error {
	probe := fmt.Sprintf("%sprobe_%d_%s.txt", ProbeFolder, time.Now().UnixNano(), randomHex(4))
	body := "archive store check " + probe
	if _, err := s.List(ctx, ProbeFolder); err != nil {
		return fmt.Errorf("check %s: list: %w", s, err)
	}
	if err := s.Put(ctx, probe, strings.NewReader(body)); err != nil {
		return fmt.Errorf("check %s: write %s: %w", s, probe, err)
	}
	defer func() { _ = s.Delete(context.WithoutCancel(ctx), probe) }()
	r, err := s.Get(ctx, probe)
	if err != nil {
		return fmt.Errorf("check %s: read %s: %w", s, probe, err)
	}
	got, err := io.ReadAll(io.LimitReader(r, int64(len(body))+1))
	r.Close()
	if err != nil {
		return fmt.Errorf("check %s: read %s: %w", s, probe, err)
	}
	if string(got) != body {
		return fmt.Errorf("check %s: read back %d bytes that differ from the %d written", s, len(got), len(body))
	}
	if err := s.Delete(ctx, probe); err != nil {
		return fmt.Errorf("check %s: delete %s: %w", s, probe, err)
	}
	if _, err := s.Stat(ctx, probe); !errors.Is(err, ErrNotFound) {
		if err == nil {
			return fmt.Errorf("check %s: %s still exists after delete", s, probe)
		}
		return fmt.Errorf("check %s: stat %s: %w", s, probe, err)
	}
	return nil
}
