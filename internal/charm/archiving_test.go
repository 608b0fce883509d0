package charm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/store"
)

func TestArchiveProblem(t *testing.T) {
	var c Config
	if got := archiveProblem(c, "swift://walex_1", "wal_e_storage_uri"); !strings.Contains(got, "os_auth_url") ||
		!strings.Contains(got, "os_password") || !strings.HasPrefix(got, "wal_e_storage_uri swift://walex_1 needs ") {
		t.Errorf("swift without credentials: %q", got)
	}
	c.OSAuthURL, c.OSUsername, c.OSPassword, c.OSIdentityAPIVersion = "http://k/auth/v1.0", "a:b", "pw", "1"
	if got := archiveProblem(c, "swift://walex_1", "wal_e_storage_uri"); got != "" {
		t.Errorf("swift with v1 credentials: %q", got)
	}
	if got := archiveProblem(c, "s3://bucket", "storage-uri"); !strings.Contains(got, "aws_access_key_id") {
		t.Errorf("s3 with swift credentials: %q", got)
	}
	if got := archiveProblem(c, "ftp://x", "storage-uri"); !strings.HasPrefix(got, "storage-uri: ") {
		t.Errorf("unknown scheme: %q", got)
	}
}

// The configuration file takes the credentials under the charm's option names, so that the
// archive engine's LoadConfig reads what the charm wrote.
func TestArchiveConfigKeys(t *testing.T) {
	c := Config{WalEStorageURI: "swift://walex_1", WalECompression: "zstd", OSPassword: "secret", AWSRegion: "r"}
	data, err := json.Marshal(archiveConfig(c, c.WalEStorageURI))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"wal_e_storage_uri": "swift://walex_1", "wal_e_compression": "zstd",
		"os_password": "secret", "aws_region": "r"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %q (file: %s)", k, m[k], want, data)
		}
	}
}

func TestAuthFailure(t *testing.T) {
	for msg, want := range map[string]bool{"Authorization Failed": true, "HTTP 403 Forbidden": true,
		"dial tcp: connection refused": false} {
		if got := authFailure(errString(msg)); got != want {
			t.Errorf("authFailure(%q) = %v", msg, got)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// The restore refuses the unit's own archive; other spellings of it must not slip past.
func TestSameArchive(t *testing.T) {
	for _, c := range [][2]string{{"wabs://c/p", "azure://c/p"}, {"S3://b/p", "s3://b/p"}, {"s3://b//p", "s3://b/p"},
		{"s3://b/p/", "s3://b/p"}, {"s3://b", "s3://b/"}, {" swift://c/p", "swift://c//p/"}, {"file:///a/../b", "file:///b"}} {
		if !sameArchive(c[0], c[1]) {
			t.Errorf("%s and %s name the same archive", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"s3://b/p", "s3://b/q"}, {"s3://b/p", "gs://b/p"}, {"s3://b", "s3://b/p"}, {"s3://B/p", "s3://b/p"}} {
		if sameArchive(c[0], c[1]) {
			t.Errorf("%s and %s are different archives", c[0], c[1])
		}
	}
}

// An archive nobody claimed is this database's to take only when it holds nothing of another
// database: the status says so before a push fails on it (issue 15, Medium 4).
func TestForeignArchiveUnclaimed(t *testing.T) {
	ctx := context.Background()
	open := func() (*archive.Archive, string) {
		uri := "file://" + t.TempDir()
		s, err := store.Open(ctx, uri, store.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		return archive.New(s, archive.LZ4, 2), uri
	}
	a, uri := open()
	if msg := foreignArchive(ctx, a, uri, "42"); msg != "" {
		t.Errorf("empty archive: %q", msg)
	}
	a.Store.Put(ctx, "basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json",
		strings.NewReader(`{"LSN": 33554472, "FinishLSN": 33554688, "SystemIdentifier": 7, "Version": 2}`))
	if msg := foreignArchive(ctx, a, uri, "42"); !strings.Contains(msg, "no owner record") || !strings.Contains(msg, "7") {
		t.Errorf("archive holding another database's backup: %q", msg)
	}
	if msg := foreignArchive(ctx, a, uri, "7"); msg != "" {
		t.Errorf("archive holding this database's backup: %q", msg)
	}
	w, uri := open()
	w.Store.Put(ctx, "wal_005/000000010000000000000002.lz4", strings.NewReader("x"))
	if msg := foreignArchive(ctx, w, uri, "42"); !strings.Contains(msg, "WAL") {
		t.Errorf("archive holding WAL and no backup: %q", msg)
	}
}
