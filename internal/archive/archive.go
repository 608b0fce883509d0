// Package archive is the charm's WAL archiving, base backup and point-in-time recovery engine.
// It writes and reads WAL-G's layout (basebackups_005/, wal_005/, sentinels as commit markers)
// so that WAL-G can restore what we push and we can restore what WAL-G pushed, and adds one
// safety WAL-G lacks: an archive belongs to one cluster (see Owner).
package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// DefaultConfigPath is where the charm writes the archive configuration (mode 0600, owned by
// postgres), so that archive_command and restore_command need no credentials in argv.
const DefaultConfigPath = "/etc/postgresql-charm/archive.json"

// Config is the archive configuration file: the storage credentials under the charm's option
// names, plus the storage URI and compression.
type Config struct {
	store.Credentials
	URI         string `json:"wal_e_storage_uri"`
	Compression string `json:"wal_e_compression,omitempty"`
	// Concurrency bounds parallel uploads and downloads (0: a default from the CPU count).
	Concurrency int `json:"archive_concurrency,omitempty"`
}

// LoadConfig reads the configuration file. It refuses files others can read, since they hold
// credentials.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("archive config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Config{}, fmt.Errorf("archive config %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Config{}, fmt.Errorf("archive config %s: mode %o lets others read credentials; want 0600", path, st.Mode().Perm())
	}
	var c Config
	dec := json.NewDecoder(f)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("archive config %s: %w", path, err)
	}
	if _, err := ParseCompression(c.Compression); err != nil {
		return Config{}, fmt.Errorf("archive config %s: %w", path, err)
	}
	return c, nil
}

// Archive is one archive prefix opened for reading and writing.
type Archive struct {
	Store       store.Store
	Compression Compression
	// Concurrency bounds parallel transfers; at least 1.
	Concurrency int
	// Log receives one line per notable event (never credentials). Nil discards.
	Log io.Writer

	owner   ownerCheck
	slashed slashedView
}

// Open opens the archive the configuration names; uri, when not empty, replaces the
// configured URI (the restore action reads another archive with the same credentials).
func Open(ctx context.Context, c Config, uri string) (*Archive, error) {
	if uri == "" {
		uri = c.URI
	}
	if uri == "" {
		return nil, errors.New("no archive: wal_e_storage_uri is not set")
	}
	comp, err := ParseCompression(c.Compression)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(ctx, uri, c.Credentials)
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w", redactURI(uri), err)
	}
	return New(s, comp, c.Concurrency), nil
}

// New wraps an open store.
func New(s store.Store, c Compression, concurrency int) *Archive {
	if concurrency <= 0 {
		concurrency = max(4, 2*runtime.NumCPU())
	}
	if c == "" {
		c = LZ4
	}
	a := &Archive{Store: s, Compression: c, Concurrency: concurrency}
	if v, ok := store.LeadingSlash(s); ok {
		a.slashed.view = v
	}
	return a
}

func (a *Archive) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format+"\n", args...)
	}
}

// redactURI keeps user info (which a careless operator might put there) out of messages.
func redactURI(uri string) string {
	u, err := store.ParseURI(uri)
	if err != nil {
		return "(unparsable URI)"
	}
	return u.String()
}
