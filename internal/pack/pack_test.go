package pack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	jujucharm "github.com/juju/charm/v12"

	"github.com/pgcharm/postgresql/internal/pack"
)

// TestCharmArchiveLoadsAsJujuReadsIt builds postgresql.charm and reads it back with the
// library Juju uses: every hook and action must be present, executable and lead to the
// binary, and the YAML must parse.
func TestCharmArchiveLoadsAsJujuReadsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm binary; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "postgresql.charm")
	err := pack.Build(context.Background(), pack.Options{
		SrcDir: "../..", ModDir: "../..", Main: "./cmd/postgresql-charm",
		GOARCH: runtime.GOARCH, Version: "test", Out: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := jujucharm.ReadCharmArchive(out)
	if err != nil {
		t.Fatalf("ReadCharmArchive: %v", err)
	}
	meta := ch.Meta()
	if meta.Name != "postgresql" {
		t.Errorf("name %q", meta.Name)
	}
	for _, ep := range []string{"db", "db-admin"} {
		if r := meta.Provides[ep]; r.Interface != "pgsql" {
			t.Errorf("provides %s: interface %q, want pgsql", ep, r.Interface)
		}
	}
	if r := meta.Peers["replication"]; r.Interface != "pgpeer" {
		t.Errorf("peer replication: interface %q", r.Interface)
	}
	st := meta.Storage["pgdata"]
	if st.Type != jujucharm.StorageFilesystem || st.Location != "/srv/pgdata" || st.CountMin != 0 || st.CountMax != 1 {
		t.Errorf("pgdata storage: %+v", st)
	}
	if len(meta.Series) != 0 {
		t.Errorf("metadata has series %v; bases belong in manifest.yaml", meta.Series)
	}
	if f := jujucharm.MetaFormat(ch); f != jujucharm.FormatV2 {
		t.Errorf("charm format %v, want v2 (manifest bases)", f)
	}
	for _, b := range ch.Manifest().Bases {
		if len(b.Architectures) != 1 || b.Architectures[0] != runtime.GOARCH {
			t.Errorf("base %v lists architectures other than the built %s", b, runtime.GOARCH)
		}
	}
	if len(ch.Config().Options) < 29 {
		t.Errorf("only %d config options", len(ch.Config().Options))
	}
	for _, a := range []string{"wal-e-backup", "wal-e-list-backups", "wal-e-restore", "replication-pause", "replication-resume", "switchover"} {
		if _, ok := ch.Actions().ActionSpecs[a]; !ok {
			t.Errorf("action %s missing", a)
		}
	}

	dir := t.TempDir()
	if err := ch.ExpandTo(dir); err != nil {
		t.Fatal(err)
	}
	dispatch, err := os.ReadFile(filepath.Join(dir, "dispatch"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(rel string) {
		p := filepath.Join(dir, rel)
		if target, err := os.Readlink(p); err != nil || target != "../dispatch" {
			t.Errorf("%s: link to %q (%v), want ../dispatch", rel, target, err)
			return
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&0o100 == 0 {
			t.Errorf("%s is not executable: %v %v", rel, fi, err)
			return
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, dispatch) {
			t.Errorf("%s does not lead to the binary", rel)
		}
	}
	for h := range meta.Hooks() {
		check("hooks/" + h)
	}
	for a := range ch.Actions().ActionSpecs {
		check("actions/" + a)
	}
}

// TestCommittedHooksMatchMetadata keeps the repository's hooks/ in step with metadata.yaml.
func TestCommittedHooksMatchMetadata(t *testing.T) {
	meta, err := pack.ReadMeta("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("../../hooks")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		if target, err := os.Readlink(filepath.Join("../../hooks", e.Name())); err != nil || target != "../dispatch" {
			t.Errorf("hooks/%s: link to %q (%v)", e.Name(), target, err)
		}
	}
	sort.Strings(got)
	want := pack.HookNames(meta)
	if len(got) != len(want) {
		t.Fatalf("hooks/ has %d entries, metadata implies %d: run `make hooks`", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hooks/ has %s where metadata implies %s: run `make hooks`", got[i], want[i])
		}
	}
}
