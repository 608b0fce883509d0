package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRestoreTablespaceMapping: wal-e-restore puts a backup's tablespace where its
// tablespaces parameter says, as the archive tool's restore --tablespace does. A
// tablespace recorded outside the unit's storage is refused without a mapping (before
// anything is stopped: the database keeps serving); mapped to a new directory it comes
// back there, rows included, the directory postgres's and 0700.
func TestRestoreTablespaceMapping(t *testing.T) {
	s, _ := newSim(t, "tblspc")
	const unit = "postgresql/0"
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("wait")
	// postgres's own archive directories: the charm's store check (root) would otherwise
	// create them root's, and postgres could not archive into them.
	s.Exec(unit, "runuser", "-u", "postgres", "--", "mkdir", "-m", "0700", "/var/lib/postgresql/archive-a", "/var/lib/postgresql/archive-b")
	s.Run("config", "postgresql", "wal_e_storage_uri=file:///var/lib/postgresql/archive-a", "wal_e_backup_schedule=")
	s.Run("wait")
	s.Exec(unit, "runuser", "-u", "postgres", "--", "mkdir", "-m", "0700", "/var/lib/postgresql/ts1")
	psql(s, unit, "CREATE TABLESPACE ts1 LOCATION '/var/lib/postgresql/ts1'")
	psql(s, unit, "CREATE TABLE kept (v int) TABLESPACE ts1; INSERT INTO kept SELECT generate_series(1, 1000)")
	oid := psql(s, unit, "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
	action(t, s, unit, "wal-e-backup")
	psql(s, unit, "INSERT INTO kept VALUES (1001)")
	sw := psql(s, unit, "SELECT pg_walfile_name(pg_switch_wal())")
	eventually(t, 60*time.Second, "segment "+sw+" archived", func() bool {
		out, err := psqlE(s, unit, "SELECT coalesce(last_archived_wal, '') >= '"+sw+"' FROM pg_stat_archiver")
		return err == nil && out == "t"
	})
	s.Run("config", "postgresql", "wal_e_storage_uri=file:///var/lib/postgresql/archive-b")
	s.Run("wait")

	from := "storage-uri=file:///var/lib/postgresql/archive-a"
	res := s.RunAction(unit, "wal-e-restore", from, "confirm=true")
	if res.Status != "failed" || !strings.Contains(res.Message, "tablespaces="+oid+"=DIR") {
		t.Fatalf("a tablespace outside the storage, unmapped: %s %q", res.Status, res.Message)
	}
	if out := psql(s, unit, "SELECT count(*) FROM kept"); out != "1001" {
		t.Fatalf("the database after a refused restore: %s rows", out)
	}
	for _, bad := range []string{"tablespaces=99999=/srv/fast/ts1", "tablespaces=" + oid + "=relative", "tablespaces=" + oid + "=/var/lib/postgresql"} {
		if res := s.RunAction(unit, "wal-e-restore", from, bad, "confirm=true"); res.Status != "failed" || !strings.Contains(res.Message, "tablespaces") {
			t.Errorf("%s: %s %q", bad, res.Status, res.Message)
		}
	}

	res = action(t, s, unit, "wal-e-restore", from, "tablespaces="+oid+"=/srv/fast/ts1", "confirm=true")
	s.Run("wait")
	if out := psql(s, unit, "SELECT count(*), pg_tablespace_location((SELECT oid FROM pg_tablespace WHERE spcname = 'ts1')) FROM kept"); out != "1001|/srv/fast/ts1" {
		t.Errorf("after the restore: %q, want 1001 rows in /srv/fast/ts1", out)
	}
	if out := strings.TrimSpace(s.Exec(unit, "stat", "-c", "%U %a", "/srv/fast/ts1")); out != "postgres 700" {
		t.Errorf("/srv/fast/ts1: %s", out)
	}
	if out := strings.TrimSpace(s.Exec(unit, "sh", "-c", "ls /srv/fast/ts1")); !strings.HasPrefix(out, "PG_15_") {
		t.Errorf("/srv/fast/ts1 holds %q", out)
	}
}
