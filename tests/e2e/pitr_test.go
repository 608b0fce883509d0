package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// credsYAML is a `juju config --file` document setting the store's credential options.
func credsYAML(t *testing.T, c store.Credentials) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("postgresql:\n")
	for _, kv := range [][2]string{
		{"os_auth_url", c.OSAuthURL}, {"os_username", c.OSUsername}, {"os_password", c.OSPassword},
		{"os_tenant_name", c.OSTenantName}, {"os_identity_api_version", c.OSIdentityAPIVersion},
		{"aws_access_key_id", c.AWSAccessKeyID}, {"aws_secret_access_key", c.AWSSecretAccessKey},
		{"aws_region", c.AWSRegion}, {"aws_endpoint", c.AWSEndpoint},
		{"wabs_account_name", c.WABSAccountName}, {"wabs_access_key", c.WABSAccessKey}, {"azure_endpoint", c.AzureEndpoint},
		{"gcs_credentials", c.GCSCredentials}, {"gcs_endpoint", c.GCSEndpoint},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s: %q\n", kv[0], kv[1])
		}
	}
	p := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// action runs an action and fails the test unless it completed.
func action(t *testing.T, s *simtest.Sim, unit, name string, params ...string) simtest.ActionResult {
	t.Helper()
	start := time.Now()
	res := s.RunAction(unit, name, params...)
	if res.Status != "completed" {
		t.Fatalf("%s on %s: %s %q\nlog: %s", name, unit, res.Status, res.Message, strings.Join(res.Log, "\n"))
	}
	t.Logf("%s on %s: %s", name, unit, time.Since(start).Round(time.Millisecond))
	return res
}

// insertTimestamps creates ts and inserts three timestamps a second apart, then switches WAL
// and waits until the segment is archived; it returns a time between the 2nd and 3rd insert.
func insertTimestamps(t *testing.T, s *simtest.Sim, primary string) string {
	t.Helper()
	psql(s, primary, "CREATE TABLE ts (t timestamptz)")
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(1200 * time.Millisecond)
		}
		psql(s, primary, "INSERT INTO ts VALUES (clock_timestamp())")
	}
	sw := psql(s, primary, "SELECT pg_walfile_name(pg_switch_wal())")
	eventually(t, 60*time.Second, "segment "+sw+" archived", func() bool {
		out, err := psqlE(s, primary, "SELECT coalesce(last_archived_wal, '') >= '"+sw+"' FROM pg_stat_archiver")
		return err == nil && out == "t"
	})
	return psql(s, primary, "SELECT to_char(((SELECT t FROM ts ORDER BY t OFFSET 1 LIMIT 1) + "+
		"((SELECT t FROM ts ORDER BY t OFFSET 2 LIMIT 1) - (SELECT t FROM ts ORDER BY t OFFSET 1 LIMIT 1)) / 2) AT TIME ZONE 'UTC', "+
		"'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
}

// TestPITRSwift is the seed's "Point-in-Time Recovery with Juju" story against Swift.
func TestPITRSwift(t *testing.T) {
	s, subnet := newSim(t, "walex")
	host := netip.MustParsePrefix(subnet).Addr().Next()
	sw := storetest.Swift(t, host.String())
	creds := credsYAML(t, sw.Creds)
	uri1, uri2, uri3 := sw.URI("walex_1", ""), sw.URI("walex_2", ""), sw.URI("walex_3", "")

	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G")
	expectRoles(t, s, "postgresql", 2)
	s.Run("config", "postgresql", "--file", creds)
	s.Run("config", "postgresql", "wal_e_storage_uri="+uri1)
	s.Run("wait")
	primary, standbys := expectRoles(t, s, "postgresql", 2)
	if cmd := psql(s, primary, "SHOW archive_command"); !strings.Contains(cmd, "wal-push") {
		t.Fatalf("archive_command on the primary: %q", cmd)
	}
	if out := strings.TrimSpace(s.Exec(primary, "stat", "-c", "%U %a", "/usr/local/lib/postgresql-charm/archive.json")); out != "postgres 600" {
		t.Errorf("archive configuration file: %q, want owner postgres mode 600", out)
	}
	if cron := s.Exec(primary, "cat", "/etc/cron.d/juju-postgresql"); !strings.Contains(cron, "13 0 * * * postgres ") ||
		!strings.Contains(cron, "backup-push") || !strings.Contains(cron, "retain 2 --confirm") {
		t.Errorf("cron entry on the primary:\n%s", cron)
	}
	for _, u := range standbys {
		if cmd := psql(s, u, "SHOW restore_command"); !strings.Contains(cmd, "wal-fetch") {
			t.Errorf("restore_command on standby %s: %q", u, cmd)
		}
		if _, _, err := s.RunE("exec", u, "--", "test", "-e", "/etc/cron.d/juju-postgresql"); err == nil {
			t.Errorf("standby %s has a backup cron entry", u)
		}
	}

	backup := action(t, s, primary, "wal-e-backup", "prune=true")
	name, _ := backup.Results["backup-name"].(string)
	if backup.Results["backup-return-code"] != "0" || !strings.HasPrefix(name, "base_") {
		t.Fatalf("wal-e-backup results: %v", backup.Results)
	}
	if cmd, _ := backup.Results["wal-e-prune-cmd"].(string); !strings.Contains(cmd, "retain 2 --confirm") ||
		backup.Results["prune-kept-backups"] != "1" || backup.Results["prune-deleted-backups"] != "0" {
		t.Errorf("wal-e-backup prune=true results: %v", backup.Results)
	}
	t.Logf("backup %s: %v, %v bytes", name, backup.Results["duration"], backup.Results["expanded-size-bytes"])
	if res := s.RunAction(standbys[0], "wal-e-backup"); res.Status != "failed" || !strings.Contains(res.Message, primary) {
		t.Errorf("wal-e-backup on a standby must fail naming the primary: %s %q", res.Status, res.Message)
	}
	list := action(t, s, primary, "wal-e-list-backups")
	entry, _ := list.Results[strings.ToLower(strings.ReplaceAll(name, "_", "-"))].(map[string]any)
	if entry["name"] != name || entry["wal-segment-backup-start"] == nil || entry["expanded-size-bytes"] == nil || entry["format"] != "wal-g" {
		t.Fatalf("wal-e-list-backups results: %v", list.Results)
	}

	target := insertTimestamps(t, s, primary)
	t.Logf("target time %s", target)
	if v := action(t, s, primary, "wal-e-verify"); v.Results["ok"] != "true" || v.Results["backups-checked"] != "1" || v.Results["segments-missing"] != "0" {
		t.Errorf("wal-e-verify of a complete archive: %v", v.Results)
	}
	// A named restore point after the three rows, recorded in the archive.
	point := action(t, s, primary, "wal-e-restore-point", "name=after-three")
	if point.Results["name"] != "after-three" || point.Results["lsn"] == nil {
		t.Fatalf("wal-e-restore-point results: %v", point.Results)
	}
	if res := s.RunAction(primary, "wal-e-restore-point", "name=after-three"); res.Status != "failed" || !strings.Contains(res.Message, "already exists") {
		t.Errorf("a second restore point of the same name: %s %q", res.Status, res.Message)
	}

	// A fresh unit in a new model with the same configuration but its own URI.
	s.Run("add-model", "walex2")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("config", "postgresql", "--file", creds)
	s.Run("config", "postgresql", "wal_e_storage_uri="+uri2)
	s.Run("wait")
	fresh := "postgresql/0"
	if res := s.RunAction(fresh, "wal-e-restore", "storage-uri="+uri1, "target-time="+target); res.Status != "failed" ||
		!strings.Contains(res.Message, "confirm=true") {
		t.Errorf("restore without confirm: %s %q", res.Status, res.Message)
	}
	if res := s.RunAction(fresh, "wal-e-restore", "storage-uri="+uri2, "confirm=true"); res.Status != "failed" ||
		!strings.Contains(res.Message, "own wal_e_storage_uri") {
		t.Errorf("restore from its own URI: %s %q", res.Status, res.Message)
	}
	if res := s.RunAction(fresh, "wal-e-restore", "storage-uri="+uri1, "target-time=yesterday", "confirm=true"); res.Status != "failed" {
		t.Errorf("restore to an unparseable time: %s %q", res.Status, res.Message)
	}
	if res := s.RunAction(fresh, "wal-e-restore", "storage-uri="+uri1, "target-time=2017-08-29 13:32:41.000000+00", "confirm=true"); res.Status != "failed" ||
		!strings.Contains(res.Message, "before the oldest backup") {
		t.Errorf("restore to a time before the oldest backup: %s %q", res.Status, res.Message)
	}
	// Targets the archive cannot reach are refused before anything is stopped.
	future := time.Now().UTC().Add(time.Hour).Format("2006-01-02 15:04:05+00")
	// (juju run types target-timeline=9 and target-xid=1234 as integers: both are accepted.)
	for _, params := range [][]string{{"target-time=" + future}, {"target-lsn=FF/0"}, {"target-name=never-made"},
		{"target-timeline=9"}, {"target-lsn=0/3000000", "target-xid=1234"}} {
		res := s.RunAction(fresh, "wal-e-restore", append([]string{"storage-uri=" + uri1, "confirm=true"}, params...)...)
		if res.Status != "failed" || strings.Contains(res.Message, "put back") || strings.Contains(strings.Join(res.Log, "\n"), "stop") {
			t.Errorf("restore to %v: %s %q (want refused before stopping)\n%s", params, res.Status, res.Message, strings.Join(res.Log, "\n"))
		}
	}
	// A transaction that never commits cannot be located beforehand: recovery ends without
	// reaching it, the restore fails, and the old database comes back.
	if res := s.RunAction(fresh, "wal-e-restore", "storage-uri="+uri1, "target-xid=4000000000", "confirm=true"); res.Status != "failed" ||
		!strings.Contains(res.Message, "put back") {
		t.Errorf("restore to a transaction never committed: %s %q\n%s", res.Status, res.Message, strings.Join(res.Log, "\n"))
	}
	if out := psql(s, fresh, "SELECT count(*) FROM pg_class WHERE relname = 'ts'"); out != "0" {
		t.Fatalf("after a failed restore the fresh unit's own database is not back (ts tables: %s)", out)
	}
	res := action(t, s, fresh, "wal-e-restore", "storage-uri="+uri1, "target-time="+target, "confirm=true")
	t.Logf("fresh restore: %v", res.Results)
	if out := psql(s, fresh, "SELECT count(*) FROM ts"); out != "2" {
		t.Fatalf("the fresh unit restored to %s has %s rows, want 2", target, out)
	}
	if target, _ := res.Results["target"].(string); res.Results["format"] != "wal-g" || !strings.HasPrefix(target, "time ") {
		t.Errorf("restore results name no format or target: %v", res.Results)
	}
	// The fresh unit's own archive (of the replaced database) is kept, never emptied: the
	// unit blocks until it gets a new, empty location.
	s.Run("wait")
	if st := s.Status("").Applications["postgresql"].Units[fresh].Workload; st.Current != "blocked" ||
		!strings.Contains(st.Message, "set wal_e_storage_uri to a new, empty location") {
		t.Errorf("after a restore over its own archive's database: %+v", st)
	}
	s.Run("config", "postgresql", "wal_e_storage_uri="+uri2+"-after-restore")
	s.Run("wait")
	expectRoles(t, s, "postgresql", 0)
	// Done with it (and jujusim's run finds an action by its id in any model).
	s.Run("destroy-model", "walex2", "--destroy-storage", "-y")

	// Roll the original deployment back: a new URI, then the primary in place.
	s.Run("switch", "walex")
	s.Run("config", "postgresql", "wal_e_storage_uri="+uri3)
	s.Run("wait")
	if out := psql(s, primary, "SELECT count(*) FROM ts"); out != "3" {
		t.Fatalf("before the rollback the primary has %s rows", out)
	}
	res = action(t, s, primary, "wal-e-restore", "storage-uri="+uri1, "target-time="+target, "confirm=true")
	t.Logf("in-place restore: %v", res.Results)
	if log := strings.Join(res.Log, "\n"); strings.Contains(log, "emptying") {
		t.Errorf("an in-place restore must leave its own archive alone (same database):\n%s", log)
	}
	if out := psql(s, primary, "SELECT count(*) FROM ts"); out != "2" {
		t.Fatalf("the restored primary has %s rows, want 2", out)
	}
	s.Run("wait")
	if out := psql(s, standbys[1], "SELECT count(*) FROM ts"); out != "3" {
		t.Errorf("a standby not restored has %s rows, want 3 (the old timeline)", out)
	}

	// Restore a standby: it follows the restored primary.
	action(t, s, standbys[0], "wal-e-restore", "storage-uri="+uri1, "target-time="+target, "confirm=true")
	psql(s, primary, "INSERT INTO ts VALUES (clock_timestamp())")
	eventually(t, 60*time.Second, "the new row on the restored standby", func() bool {
		out, err := psqlE(s, standbys[0], "SELECT count(*) FROM ts")
		return err == nil && out == "3"
	})
	if out := psql(s, standbys[0], "SELECT pg_is_in_recovery()"); out != "t" {
		t.Errorf("the restored standby is not in recovery: %s", out)
	}

	// Misconfiguration blocks with what to fix; clearing the URI turns archiving off.
	status := func(u string) simtest.StatusValue {
		return s.Status("").Applications["postgresql"].Units[u].Workload
	}
	s.Run("config", "postgresql", "os_password=wrong")
	s.Run("wait")
	if st := status(primary); st.Current != "blocked" || !strings.Contains(st.Message, "rejects the credentials") {
		t.Errorf("with a wrong password: %+v", st)
	}
	s.Run("config", "postgresql", "os_password="+sw.Creds.OSPassword, "wal_e_storage_uri=s3://walex-9")
	s.Run("wait")
	if st := status(primary); st.Current != "blocked" || !strings.Contains(st.Message, "aws_access_key_id") {
		t.Errorf("s3 without credentials: %+v", st)
	}
	s.Run("config", "postgresql", "wal_e_storage_uri=")
	s.Run("wait")
	expectRoles(t, s, "postgresql", 2)
	if cmd := psql(s, primary, "SHOW archive_command"); cmd != "/bin/true" {
		t.Errorf("archive_command with archiving off: %q", cmd)
	}
	if cmd := psql(s, standbys[1], "SHOW restore_command"); cmd != "" {
		t.Errorf("restore_command with archiving off: %q", cmd)
	}
	for _, f := range []string{"/usr/local/lib/postgresql-charm/archive.json", "/etc/cron.d/juju-postgresql"} {
		if _, _, err := s.RunE("exec", primary, "--", "test", "-e", f); err == nil {
			t.Errorf("%s is left with archiving off", f)
		}
	}
}

// TestPITRStores is a shorter story on S3, Azure and GCS: archive a single unit, take a
// backup, and restore a fresh unit in another model to a point in time.
func TestPITRStores(t *testing.T) {
	s, subnet := newSim(t, "pitr")
	host := netip.MustParsePrefix(subnet).Addr().Next().String()
	for _, start := range []func(testing.TB, string) *storetest.Server{storetest.S3, storetest.Azure, storetest.GCS} {
		srv := start(t, host)
		func() {
			creds := credsYAML(t, srv.Creds)
			src, dst := "src-"+srv.Name, "dst-"+srv.Name
			s.Run("add-model", src)
			s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
			s.Run("config", "postgresql", "--file", creds)
			s.Run("config", "postgresql", "wal_e_storage_uri="+srv.URI("walex-1", "pitr"))
			s.Run("wait")
			primary, _ := expectRoles(t, s, "postgresql", 0)
			backup := action(t, s, primary, "wal-e-backup")
			t.Logf("%s backup: %v, %v bytes", srv.Name, backup.Results["duration"], backup.Results["expanded-size-bytes"])
			target := insertTimestamps(t, s, primary)

			s.Run("add-model", dst)
			s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
			s.Run("config", "postgresql", "--file", creds)
			// Pointed at the other database's archive, the fresh unit refuses and says why.
			s.Run("config", "postgresql", "wal_e_storage_uri="+srv.URI("walex-1", "pitr"))
			s.Run("wait")
			if st := s.Status("").Applications["postgresql"].Units["postgresql/0"].Workload; st.Current != "blocked" ||
				!strings.Contains(st.Message, "holds the archive of another database") {
				t.Errorf("a unit configured with another database's archive: %+v", st)
			}
			// Its own archive is the whole bucket (the src archive lives under pitr/ in it):
			// the restore used to empty it, taking the src archive with it. Archives are never
			// deleted implicitly now: the unit blocks until it gets a new, empty location.
			s.Run("config", "postgresql", "wal_e_storage_uri="+srv.URI("walex-1", ""))
			s.Run("wait")
			res := action(t, s, "postgresql/0", "wal-e-restore", "storage-uri="+srv.URI("walex-1", "pitr"),
				"target-time="+target, "confirm=true")
			t.Logf("%s restore: fetch %v, replay %v", srv.Name, res.Results["fetch-duration"], res.Results["replay-duration"])
			if out := psql(s, "postgresql/0", "SELECT count(*) FROM ts"); out != "2" {
				t.Fatalf("restored to %s on %s: %s rows, want 2", target, srv.Name, out)
			}
			s.Run("wait")
			if st := s.Status("").Applications["postgresql"].Units["postgresql/0"].Workload; st.Current != "blocked" ||
				!strings.Contains(st.Message, "set wal_e_storage_uri to a new, empty location; the old archive keeps the backups") {
				t.Errorf("after a restore over its own archive's database: %+v", st)
			}
			if list := action(t, s, "postgresql/0", "wal-e-list-backups", "storage-uri="+srv.URI("walex-1", "pitr")); list.Results["count"] != "1" {
				t.Errorf("the src archive in the same bucket after the restore: %v backups, want 1", list.Results["count"])
			}
			s.Run("config", "postgresql", "wal_e_storage_uri="+srv.URI("walex-1", "dst"))
			s.Run("wait")
			st := s.Status("").Applications["postgresql"].Units["postgresql/0"].Workload
			if st.Current != "active" {
				t.Errorf("with a new, empty wal_e_storage_uri after the restore: %+v", st)
			}
			// The replaced database stays beside the data directory, named with its size in the
			// status, until a base backup newer than it has completed.
			if !strings.Contains(st.Message, "old data kept until the next base backup: /srv/pgdata/15/main.moved-restore-") {
				t.Errorf("status after the restore does not name the old data: %q", st.Message)
			}
			action(t, s, "postgresql/0", "wal-e-backup")
			s.Run("config", "postgresql", "wal_e_backup_retention=3") // any hook
			s.Run("wait")
			if out := s.Exec("postgresql/0", "sh", "-c", "ls -d /srv/pgdata/15/main.moved-* 2>/dev/null || true"); strings.TrimSpace(out) != "" {
				t.Errorf("old data still kept after a later base backup: %s", out)
			}
			s.Run("destroy-model", dst, "--destroy-storage", "-y")
			s.Run("destroy-model", src, "--destroy-storage", "-y")
		}()
	}
}
