package archive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/storetest"
)

// TestPITR: one cluster archives into every store in turn while pgbench writes; per store a
// base backup is taken, rows are written around a target time, and restores to the target
// time and to the end of the archive bring exactly the rows they should.
func TestPITR(t *testing.T) {
	needPG(t)
	base := baseDir(t)
	cfg := filepath.Join(base, "archive.json")
	servers := storetest.All(t, "127.0.0.1")

	primary := newCluster(t, base, "primary")
	primary.archiveSettings(cfg, "")
	// Nothing to archive into until the first store's configuration exists: failures are
	// retried by PostgreSQL, which is also what we want to see work.
	primary.start()
	must(t, filepath.Join(pgBin, "pgbench"), "-h", primary.sock, "-U", "postgres", "-i", "-s", "2", "-q", "postgres")
	primary.sql("CREATE TABLE marks (id serial PRIMARY KEY, store text, phase text, at timestamptz DEFAULT clock_timestamp())")
	sysid := primary.sysid()

	for _, srv := range servers {
		t.Run(srv.Name, func(t *testing.T) {
			primary.t = t
			defer func() { primary.t = t }()
			uri := srv.URI("pgcharm", "pitr-"+srv.Name)
			if srv.Name == "file" {
				uri = "file://" + filepath.Join(base, "archive-file") // where postgres may write
			}
			writeConfig(t, cfg, uri, srv.Creds)
			primary.archiveSettings(cfg, uri)
			primary.sql("SELECT pg_reload_conf()")
			primary.sql("SELECT pg_switch_wal()")

			ctx := context.Background()
			bench := make(chan error, 1)
			go func() { bench <- primary.pgbench(ctx, 4*time.Second) }()
			time.Sleep(500 * time.Millisecond)
			out := mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock, "--progress-interval", "1s")
			t.Logf("backup-push:\n%s", out)
			if err := <-bench; err != nil {
				t.Fatal(err)
			}

			var list []map[string]any
			dec := json.NewDecoder(strings.NewReader(mustTool(t, "backup-list", "--config", cfg, "--json")))
			dec.UseNumber()
			if err := dec.Decode(&list); err != nil || len(list) != 1 {
				t.Fatalf("backup-list: %v %v", list, err)
			}
			if got := fmt.Sprint(list[0]["system_identifier"]); got != sysid {
				t.Errorf("listed system identifier %v, cluster has %s", list[0]["system_identifier"], sysid)
			}

			outage := 0
			if srv.Name != "file" {
				// The store goes away in the middle of archiving: archive_command fails,
				// PostgreSQL keeps the WAL and retries, nothing is lost once it is back.
				failed := primary.sql("SELECT failed_count FROM pg_stat_archiver")
				srv.Stop()
				outage = 5
				primary.sql(fmt.Sprintf("INSERT INTO marks (store, phase) SELECT '%s', 'outage' FROM generate_series(1, 5)", srv.Name))
				primary.sql("SELECT pg_switch_wal()")
				deadline := time.Now().Add(90 * time.Second)
				for primary.sql("SELECT failed_count FROM pg_stat_archiver") == failed {
					if time.Now().After(deadline) {
						t.Fatal("archive_command did not fail while the store was stopped")
					}
					time.Sleep(200 * time.Millisecond)
				}
				t.Logf("archive_command failed %s after the store stopped", time.Since(deadline.Add(-90*time.Second)).Round(time.Millisecond))
				if err := srv.Start(); err != nil {
					t.Fatalf("restart %s: %v", srv.Name, err)
				}
				primary.sql("SELECT pg_reload_conf()") // wakes the archiver from its retry pause
			}
			primary.sql(fmt.Sprintf("INSERT INTO marks (store, phase) SELECT '%s', 'before' FROM generate_series(1, 10)", srv.Name))
			primary.sql("SELECT pg_switch_wal()")
			time.Sleep(1100 * time.Millisecond)
			target := primary.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
			time.Sleep(1100 * time.Millisecond)
			primary.sql(fmt.Sprintf("INSERT INTO marks (store, phase) SELECT '%s', 'after' FROM generate_series(1, 7)", srv.Name))
			balance := primary.sql("SELECT sum(abalance) FROM pgbench_accounts")
			primary.sql("SELECT pg_switch_wal()")
			waitStart := time.Now()
			primary.waitArchived()
			t.Logf("archiving caught up %s after the last switch", time.Since(waitStart).Round(time.Millisecond))

			if out, errs, code := tool(t, "verify", "--config", cfg); code != 0 {
				t.Errorf("verify: exit %d\n%s\n%s", code, out, errs)
			}

			count := func(c *cluster) string {
				return c.sql(fmt.Sprintf("SELECT count(*) FILTER (WHERE phase = 'before') || ' ' || count(*) FILTER (WHERE phase = 'after') || ' ' || count(*) FILTER (WHERE phase = 'outage') FROM marks WHERE store = '%s'", srv.Name))
			}
			atTarget := restoreTo(t, base, "pit-"+srv.Name, cfg, "--target-time", target)
			if got, want := count(atTarget), fmt.Sprintf("10 0 %d", outage); got != want {
				t.Errorf("restore to %s: before/after/outage rows %q, want %q", target, got, want)
			}
			atTarget.stop()
			latest := restoreTo(t, base, "latest-"+srv.Name, cfg)
			if got, want := count(latest), fmt.Sprintf("10 7 %d", outage); got != want {
				t.Errorf("restore to latest: before/after/outage rows %q, want %q", got, want)
			}
			if got := latest.sql("SELECT sum(abalance) FROM pgbench_accounts"); got != balance {
				t.Errorf("restore to latest: pgbench balance %s, primary %s", got, balance)
			}
			if !strings.Contains(latest.logText(), "restored log file") {
				t.Errorf("restored cluster's log shows no WAL restored by restore_command")
			}
			latest.stop()

			// wal-push killed mid-upload against this store leaves nothing wal-fetch takes.
			killURI := srv.URI("pgcharm", "kill-"+srv.Name)
			if srv.Name == "file" {
				killURI = "file://" + filepath.Join(base, "kill-file")
			}
			killPushes(t, primary, base, cfg, killURI, 8)
		})
	}
}
