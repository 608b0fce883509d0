package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Crafted archives: what a backup-fetch extracts stays beneath the data directory (and the
// tablespace locations the operator allowed), whatever links and names the tar holds. Each
// case fails with the extraction that cleaned names lexically and followed links.

type member struct {
	name, link, body string
	typ              byte
}

func dirM(name string) member          { return member{name: name, typ: tar.TypeDir} }
func fileM(name, body string) member   { return member{name: name, body: body, typ: tar.TypeReg} }
func linkM(name, target string) member { return member{name: name, link: target, typ: tar.TypeSymlink} }
func hardM(name, target string) member { return member{name: name, link: target, typ: tar.TypeLink} }
func tarOf(t *testing.T, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o600, Linkname: m.link, Size: int64(len(m.body)), ModTime: time.Unix(1e9, 0)}
		if m.typ == tar.TypeDir {
			h.Mode = 0o700
		}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			tw.Write([]byte(m.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

const craftedName = "base_000000010000000000000002"

// craftedArchive holds one backup whose parts are the given tars (uncompressed, in order) and
// whose sentinel records tablespaces (OID -> location).
func craftedArchive(t *testing.T, tablespaces map[string]string, parts ...[]byte) *Archive {
	t.Helper()
	ctx := context.Background()
	a := New(openTestStore(t), LZ4, 2)
	s := Sentinel{StartLSN: 2 << 24, FinishLSN: 2<<24 + 100, Version: 2, PgVersion: 150000, StartTime: time.Now(), FinishTime: time.Now()}
	if tablespaces != nil {
		s.Spec = &TablespaceSpec{BasePrefix: "/var/lib/postgresql/15/main", Tablespaces: map[string]TablespaceLocation{}}
		for oid, loc := range tablespaces {
			s.Spec.Tablespaces[oid] = TablespaceLocation{Location: loc + "/", Symlink: "pg_tblspc/" + oid}
		}
	}
	for i, p := range parts {
		key := BackupFolder + craftedName + "/" + TarPartitions + "part_00" + string(rune('1'+i)) + ".tar"
		if err := a.Store.Put(ctx, key, bytes.NewReader(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.putJSON(ctx, sentinelKey(craftedName), s); err != nil {
		t.Fatal(err)
	}
	return a
}

// scene is a temporary tree: outside/ (holding victim, which nothing may touch), storage/
// (where tablespaces may go) and the data directory storage/15/main.
type scene struct{ base, outside, victim, storage, data string }

func newScene(t *testing.T) scene {
	base := t.TempDir()
	s := scene{base: base, outside: filepath.Join(base, "outside"), storage: filepath.Join(base, "storage")}
	s.victim = filepath.Join(s.outside, "victim")
	s.data = filepath.Join(s.storage, "15", "main")
	os.MkdirAll(s.outside, 0o755)
	os.MkdirAll(filepath.Dir(s.data), 0o755)
	os.WriteFile(s.victim, []byte("precious"), 0o644)
	return s
}

// untouched fails the test when anything outside changed.
func (s scene) untouched(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(s.victim); err != nil || string(b) != "precious" {
		t.Errorf("the victim outside the data directory now holds %q (%v)", b, err)
	}
	entries, _ := os.ReadDir(s.outside)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 {
		t.Errorf("outside the data directory: %v, want only the victim", names)
	}
}

func TestBackupFetchStaysBeneath(t *testing.T) {
	ctx := context.Background()
	t.Run("directory link then a file through it", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, linkM("evil", s.outside), fileM("evil/owned.txt", "root was here")))
		_, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{})
		s.untouched(t)
		if err == nil {
			t.Error("a file was extracted through a link without an error")
		}
		if got, _ := os.Readlink(filepath.Join(s.data, "evil")); got != s.outside {
			t.Errorf("the link was not kept as data: %q", got)
		}
	})
	t.Run("link to a file then the file", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, linkM("PG_VERSION", s.victim), fileM("PG_VERSION", "15\n")))
		a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{})
		s.untouched(t)
	})
	t.Run("link in one part, a file through it in the next", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, linkM("base", s.outside)), tarOf(t, fileM("base/1/112", "x")))
		a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{Streams: 1})
		s.untouched(t)
	})
	t.Run("relative link climbing out", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, dirM("global"), linkM("global/up", "../../../../outside"), fileM("global/up/owned", "x")))
		a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{})
		s.untouched(t)
	})
	t.Run("dot-dot names land inside", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, fileM("../../../outside/owned", "x"), hardM("hard", s.victim)))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{}); err != nil {
			t.Fatal(err)
		}
		s.untouched(t)
		if _, err := os.Stat(filepath.Join(s.data, "outside", "owned")); err != nil {
			t.Errorf("../../../outside/owned did not land beneath the data directory: %v", err)
		}
	})
	t.Run("WAL-G 3 names members with a leading slash", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, dirM("/"), fileM("/PG_VERSION", "15\n"), dirM("/base/"), dirM("/base/1"),
			fileM("/base/1/112", "relation"), dirM("/global/")))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{}); err != nil {
			t.Fatal(err)
		}
		for f, want := range map[string]string{"PG_VERSION": "15\n", "base/1/112": "relation"} {
			if b, err := os.ReadFile(filepath.Join(s.data, f)); err != nil || string(b) != want {
				t.Errorf("%s: %q, %v", f, b, err)
			}
		}
	})
	t.Run("data directory is a planted link", func(t *testing.T) {
		s := newScene(t)
		os.Symlink(s.outside, s.data)
		a := craftedArchive(t, nil, tarOf(t, fileM("PG_VERSION", "15\n")))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{}); err == nil {
			t.Error("restored through a data directory that is a link")
		}
		s.untouched(t)
	})
	t.Run("tablespace recorded anywhere is refused", func(t *testing.T) {
		s := newScene(t)
		loc := filepath.Join(s.outside, "ts")
		a := craftedArchive(t, map[string]string{"16400": loc}, tarOf(t, fileM("PG_VERSION", "15\n"), fileM("pg_tblspc/16400/PG_15_1/5/1", "t")))
		_, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{TablespaceRoot: s.storage})
		if err == nil || !strings.Contains(err.Error(), "16400") || !strings.Contains(err.Error(), "--tablespace") {
			t.Errorf("tablespace outside the storage: %v", err)
		}
		s.untouched(t)
	})
	t.Run("tablespace under the storage", func(t *testing.T) {
		s := newScene(t)
		loc := filepath.Join(s.storage, "ts1")
		a := craftedArchive(t, map[string]string{"16400": loc}, tarOf(t, fileM("PG_VERSION", "15\n"), linkM("pg_tblspc/16400", "/etc"),
			fileM("pg_tblspc/16400/PG_15_1/5/1", "t"), fileM("tablespace_map", "16400 /etc\n")))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{TablespaceRoot: s.storage}); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(loc, "PG_15_1/5/1")); err != nil || string(b) != "t" {
			t.Errorf("tablespace file: %q %v", b, err)
		}
		if got, _ := os.Readlink(filepath.Join(s.data, "pg_tblspc/16400")); got != loc {
			t.Errorf("pg_tblspc/16400 -> %q, want %s", got, loc)
		}
		if b, _ := os.ReadFile(filepath.Join(s.data, "tablespace_map")); string(b) != "16400 "+loc+"\n" {
			t.Errorf("tablespace_map %q still names another place", b)
		}
	})
	t.Run("tablespace location behind a planted link under the storage", func(t *testing.T) {
		s := newScene(t)
		os.Symlink(s.outside, filepath.Join(s.storage, "ts"))
		a := craftedArchive(t, map[string]string{"16400": filepath.Join(s.storage, "ts", "x")},
			tarOf(t, fileM("pg_tblspc/16400/PG_15_1/5/1", "t")))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{TablespaceRoot: s.storage}); err == nil {
			t.Error("tablespace created through a link")
		}
		s.untouched(t)
	})
	t.Run("tablespace mapped by the operator", func(t *testing.T) {
		s := newScene(t)
		to := filepath.Join(s.base, "elsewhere")
		a := craftedArchive(t, map[string]string{"16400": filepath.Join(s.outside, "ts")},
			tarOf(t, fileM("pg_tblspc/16400/PG_15_1/5/1", "t")))
		if _, err := a.BackupFetch(ctx, "LATEST", s.data, BackupFetchOptions{Tablespaces: map[string]string{"16400": to}}); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(to, "PG_15_1/5/1")); err != nil || string(b) != "t" {
			t.Errorf("mapped tablespace file: %q %v", b, err)
		}
		s.untouched(t)
	})
	t.Run("recovery.signal and postgresql.auto.conf are planted links", func(t *testing.T) {
		s := newScene(t)
		a := craftedArchive(t, nil, tarOf(t, fileM("PG_VERSION", "15\n"), linkM("recovery.signal", s.victim),
			linkM("postgresql.auto.conf", s.victim)))
		plan := RestorePlan{Backup: Backup{Name: craftedName}, SignalFile: "recovery.signal",
			Settings: RecoverySettings{RestoreCommand: "false"}}
		if err := Restore(ctx, a, plan, s.data, BackupFetchOptions{}); err != nil {
			t.Fatal(err)
		}
		s.untouched(t)
		for _, f := range []string{"recovery.signal", "postgresql.auto.conf"} {
			if fi, err := os.Lstat(filepath.Join(s.data, f)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s is not a regular file: %v", f, err)
			}
		}
	})
}
