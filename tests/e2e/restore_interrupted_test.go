package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestInterruptedRestore: a wal-e-restore killed between moving the data directory aside
// and the fetch (the unit rebooted, the action was cancelled) leaves its record
// (/var/lib/juju-postgresql/restore.json, each phase written before it begins), the old
// data aside and a partial data directory. The test leaves exactly that state on the
// primary, as the action does up to the fetch, then checks that the next hooks recognise
// it: the unit blocks naming the restore and where the old data is, starts nothing and
// creates no database; wal-e-restore-undo puts the old data back with every row.
func TestInterruptedRestore(t *testing.T) {
	s, _ := newSim(t, "interrupted")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	primary, _ := expectRoles(t, s, "postgresql", 0)
	psql(s, primary, "CREATE TABLE kept (i int); INSERT INTO kept SELECT generate_series(1, 100)")

	cluster := strings.Fields(s.Exec(primary, "pg_lsclusters", "-h"))
	if len(cluster) < 6 {
		t.Fatalf("pg_lsclusters: %v", cluster)
	}
	version, dataDir := cluster[0], cluster[5]
	moved := dataDir + ".moved-restore-" + time.Now().UTC().Format("20060102T150405Z")
	marker := fmt.Sprintf(`{"backup":"base_000000010000000000000002","storage-uri":"s3://elsewhere/db","phase":"fetching","moved":%q}`, moved)
	s.Exec(primary, "sh", "-ec", fmt.Sprintf(`pg_ctlcluster %s main stop -m fast
mv %s %s
install -d -o postgres -g postgres -m 700 %s
echo 15 > %s/PG_VERSION.partial
mkdir -p -m 700 /var/lib/juju-postgresql
printf '%%s\n' '%s' > /var/lib/juju-postgresql/restore.json`, version, dataDir, moved, dataDir, dataDir, marker))

	want := "wal-e-restore of base_000000010000000000000002 from s3://elsewhere/db was interrupted before the backup was fetched: " +
		"the data directory holds a partial copy; the database before it is kept in " + moved +
		": run wal-e-restore again, or wal-e-restore-undo to put it back"
	for _, hook := range []string{"update-status", "start", "config-changed"} {
		s.Run("run-hook", primary, hook)
		st := s.Status("").Applications["postgresql"].Units[primary].Workload
		if st.Current != "blocked" || st.Message != want {
			t.Fatalf("after %s: %s %q, want blocked %q", hook, st.Current, st.Message, want)
		}
		if out := strings.Fields(s.Exec(primary, "pg_lsclusters", "-h")); len(out) < 4 || out[3] != "down" {
			t.Errorf("after %s: pg_lsclusters %v, want the cluster down", hook, out)
		}
		if out := s.Exec(primary, "sh", "-c", "ls -A "+dataDir); strings.TrimSpace(out) != "PG_VERSION.partial" {
			t.Errorf("after %s: the partial data directory changed: %q", hook, out)
		}
	}

	res := s.RunAction(primary, "wal-e-restore-undo")
	if res.Status != "completed" || res.Results["put-back"] != moved {
		t.Fatalf("wal-e-restore-undo: %s %q %v", res.Status, res.Message, res.Results)
	}
	expectRoles(t, s, "postgresql", 0)
	if n := psql(s, primary, "SELECT count(*) FROM kept"); n != "100" {
		t.Errorf("rows after putting the old data back: %s, want 100", n)
	}
	if out := s.Exec(primary, "sh", "-c", "ls -A /var/lib/juju-postgresql; ls -d "+dataDir+".*-restore-* 2>/dev/null; true"); strings.TrimSpace(out) != "" {
		t.Errorf("left behind after wal-e-restore-undo: %q", out)
	}
	if res := s.RunAction(primary, "wal-e-restore-undo"); res.Status != "failed" || !strings.Contains(res.Message, "nothing to put back") {
		t.Errorf("a second wal-e-restore-undo: %s %q", res.Status, res.Message)
	}
	teardownFaults(t, s)
}
