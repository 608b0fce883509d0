package charm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/safefs"
)

func TestParseTablespaceMap(t *testing.T) {
	got, err := parseTablespaceMap(" 16390=/srv/fast/ts1, 16391=/srv/slow/ts2 ")
	if err != nil || len(got) != 2 || got["16390"] != "/srv/fast/ts1" || got["16391"] != "/srv/slow/ts2" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := parseTablespaceMap(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"16390", "x=/srv/a", "16390=srv/a", "16390=/srv/../etc", "16390=/", "1=/a,1=/b",
		"1=/srv/a,2=/srv/a", "1=/srv/a,2=/srv/a/b", "1=/srv/a\x01"} {
		if _, err := parseTablespaceMap(bad); err == nil || !strings.HasPrefix(err.Error(), "tablespaces: ") {
			t.Errorf("%q: %v, want a refusal naming the parameter", bad, err)
		}
	}
}

// TestPrepareMappedTablespaces: wal-e-restore's tablespaces parameter places a backup's
// tablespace where the operator says, outside the storage too, made postgres's (here the
// test's user), before anything is stopped; a mapping for a tablespace the backup does not
// have, a directory that holds files, or one overlapping the data directory is refused,
// and an unmapped tablespace outside the storage is refused naming the parameter.
func TestPrepareMappedTablespaces(t *testing.T) {
	tmp := t.TempDir()
	storage, dataDir := filepath.Join(tmp, "storage"), filepath.Join(tmp, "storage", "15", "main")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	o := &safefs.Owner{UID: os.Getuid(), GID: os.Getgid()}
	b := archive.Backup{Name: "base_000000010000000000000004", Sentinel: archive.Sentinel{Spec: &archive.TablespaceSpec{
		Tablespaces: map[string]archive.TablespaceLocation{"16390": {Location: "/var/lib/elsewhere/ts1"}}}}}

	if err := prepareTablespaces(b, storage, nil, dataDir, o); err == nil || !strings.Contains(err.Error(), "tablespaces=16390=DIR") {
		t.Errorf("unmapped, outside the storage: %v", err)
	}
	fast := filepath.Join(tmp, "fast", "ts1")
	if err := prepareTablespaces(b, storage, map[string]string{"16390": fast}, dataDir, o); err != nil {
		t.Fatalf("mapped: %v", err)
	}
	if fi, err := os.Stat(fast); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("mapped directory: %v %v", fi, err)
	}
	if err := prepareTablespaces(b, storage, map[string]string{"16390": fast, "16391": filepath.Join(tmp, "x")}, dataDir, o); err == nil ||
		!strings.Contains(err.Error(), "no tablespace 16391") {
		t.Errorf("a tablespace the backup lacks: %v", err)
	}
	if err := os.WriteFile(filepath.Join(fast, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareTablespaces(b, storage, map[string]string{"16390": fast}, dataDir, o); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a directory holding files: %v", err)
	}
	if err := prepareTablespaces(b, storage, map[string]string{"16390": filepath.Join(dataDir, "ts")}, dataDir, o); err == nil {
		t.Error("a tablespace inside the data directory was accepted")
	}
}
