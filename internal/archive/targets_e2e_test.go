package archive_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// TestPITRTargets recovers one real cluster's archive to each kind of target besides time: an
// LSN, a transaction ID (inclusive and not), a restore point made with restore-point, and the
// end of the backup (immediate). Four batches of rows after the backup tell where each stopped.
func TestPITRTargets(t *testing.T) {
	needPG(t)
	base := baseDir(t)
	cfg := filepath.Join(base, "archive.json")
	uri := "file://" + filepath.Join(base, "archive")
	writeConfig(t, cfg, uri, store.Credentials{})
	primary := newCluster(t, base, "primary")
	primary.archiveSettings(cfg, uri)
	primary.start()
	primary.sql("CREATE TABLE marks (id serial PRIMARY KEY, phase text NOT NULL)")
	primary.sql("INSERT INTO marks (phase) SELECT 'base' FROM generate_series(1, 10)")
	mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock)

	primary.sql("INSERT INTO marks (phase) SELECT 'a' FROM generate_series(1, 10)")
	lsnA := primary.sql("SELECT pg_current_wal_insert_lsn()")
	xidB := primary.sql("WITH x AS (INSERT INTO marks (phase) SELECT 'b' FROM generate_series(1, 10) RETURNING 1) SELECT pg_current_xact_id()::text FROM x LIMIT 1")
	primary.sql("INSERT INTO marks (phase) SELECT 'c' FROM generate_series(1, 10)")
	out := mustTool(t, "restore-point", "--config", cfg, "--host", primary.sock, "after-c")
	if !strings.Contains(out, "restore point after-c at ") {
		t.Fatalf("restore-point: %s", out)
	}
	if _, errs, code := tool(t, "restore-point", "--config", cfg, "--host", primary.sock, "after-c"); code == 0 || !strings.Contains(errs, "already exists") {
		t.Fatalf("a second restore point of the same name: exit %d %s", code, errs)
	}
	primary.sql("INSERT INTO marks (phase) SELECT 'd' FROM generate_series(1, 10)")
	primary.sql("SELECT pg_switch_wal()")
	primary.waitArchived()

	counts := func(c *cluster) string {
		return c.sql("SELECT string_agg(phase || '=' || n, ' ' ORDER BY phase) FROM (SELECT phase, count(*) n FROM marks GROUP BY phase) s")
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"lsn", []string{"--target-lsn", lsnA}, "a=10 base=10"},
		{"xid", []string{"--target-xid", xidB}, "a=10 b=10 base=10"},
		{"xid-exclusive", []string{"--target-xid", xidB, "--target-inclusive", "false"}, "a=10 base=10"},
		{"name", []string{"--target-name", "after-c"}, "a=10 b=10 base=10 c=10"},
		{"immediate", []string{"--target-immediate"}, "base=10"},
		{"latest", nil, "a=10 b=10 base=10 c=10 d=10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := restoreTo(t, base, "to-"+tc.name, cfg, tc.args...)
			if got := counts(r); got != tc.want {
				t.Errorf("restored %s, want %s", got, tc.want)
			}
			r.stop()
		})
	}

	// Unreachable targets are refused before anything is written.
	for _, args := range [][]string{{"--target-lsn", "FF/0"}, {"--target-name", "never-made"}, {"--timeline", "9"},
		{"--target-lsn", lsnA, "--target-xid", xidB}} {
		dir := filepath.Join(base, "refused")
		_, errs, code := tool(t, append(append([]string{"restore", "--config", cfg}, args...), dir)...)
		if code == 0 || errs == "" {
			t.Errorf("restore %v: exit %d, %s", args, code, errs)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("restore %v refused but created %s", args, dir)
		}
	}
}
