package archive

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestWalkDataDir(t *testing.T) {
	root := t.TempDir()
	pgdata := filepath.Join(root, "data")
	walElsewhere := filepath.Join(root, "wal")
	ts := filepath.Join(root, "ts")
	for _, d := range []string{"base/1/pgsql_tmp", "global", "pg_replslot/slot", "pg_stat_tmp", "pg_tblspc", "pg_xact", "log"} {
		os.MkdirAll(filepath.Join(pgdata, d), 0o700)
	}
	os.MkdirAll(filepath.Join(walElsewhere, "archive_status"), 0o700)
	os.MkdirAll(filepath.Join(ts, "PG_15_202209061", "5"), 0o700)
	for _, f := range []string{"PG_VERSION", "base/1/1259", "base/1/pgsql_tmp/pgsql_tmp1.0", "base/1/pg_internal.init", "global/pg_control",
		"global/1262", "postmaster.pid", "postmaster.opts", "standby.signal", "backup_label", "pg_replslot/slot/state", "pg_stat_tmp/x",
		"pg_xact/0000", "log/postgresql.log", "postgresql.auto.conf"} {
		os.WriteFile(filepath.Join(pgdata, f), []byte("x"), 0o600)
	}
	os.WriteFile(filepath.Join(ts, "PG_15_202209061", "5", "16385"), []byte("t"), 0o600)
	os.WriteFile(filepath.Join(walElsewhere, "000000010000000000000001"), []byte("w"), 0o600)
	os.Symlink(walElsewhere, filepath.Join(pgdata, "pg_wal"))
	os.Symlink(ts, filepath.Join(pgdata, "pg_tblspc", "16400"))

	entries, spec, err := walkDataDir(pgdata)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		s := e.member
		if e.emptyDir {
			s += " (empty)"
		}
		got = append(got, s)
	}
	sort.Strings(got)
	want := []string{
		"PG_VERSION", "base", "base/1", "base/1/1259", "global", "global/1262", "log (empty)",
		"pg_replslot (empty)", "pg_stat_tmp (empty)", "pg_tblspc", "pg_tblspc/16400", "pg_tblspc/16400/PG_15_202209061",
		"pg_tblspc/16400/PG_15_202209061/5", "pg_tblspc/16400/PG_15_202209061/5/16385",
		"pg_wal (empty)", "pg_wal/archive_status (empty)", "pg_xact", "pg_xact/0000", "postgresql.auto.conf",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("walked:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	loc, ok := spec.Tablespaces["16400"]
	if !ok || loc.Location != ts+"/" || loc.Symlink != "pg_tblspc/16400" || spec.BasePrefix != pgdata {
		t.Errorf("spec %+v", spec)
	}
}
