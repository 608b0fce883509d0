package postgres

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/wal"
)

// TestRecover: a point-in-time recovery to a named restore point brings back exactly the
// rows committed before it, on a new timeline, running as a primary without the
// recovery settings. The base backup is the standby's clone (stopped before any row was
// written); the WAL comes from the primary's pg_wal (its slot for the stopped standby
// keeps it). A link planted where recovery.signal goes is replaced, not followed.
func TestRecover(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	p, s, _ := newPair(t, ctx, v)
	if err := Stop(ctx, s, StopFast); err != nil {
		t.Fatal(err)
	}
	pdb := connect(t, ctx, p, "postgres")
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g")
	exec1(t, ctx, pdb, "SELECT pg_create_restore_point('before-the-mistake')")
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'after' FROM generate_series(101, 200) g")
	exec1(t, ctx, pdb, "SELECT pg_switch_wal()")

	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("root's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(s.DataDir, "recovery.signal")); err != nil {
		t.Fatal(err)
	}
	var progress []wal.LSN
	f, err := Recover(ctx, s, RecoverOptions{
		Settings: pgconf.Settings{
			{Name: "restore_command", Value: fmt.Sprintf("cp %s/pg_wal/%%f %%p", p.DataDir)},
			{Name: "recovery_target_name", Value: "before-the-mistake"},
			{Name: "recovery_target_action", Value: "promote"},
		},
		Progress: func(l wal.LSN) { progress = append(progress, l) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.InRecovery || f.Timeline != 2 {
		t.Errorf("recovered: %+v", f)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root's" {
		t.Errorf("recovery.signal followed the planted link: the victim holds %q", b)
	}
	if _, err := os.Stat(filepath.Join(s.ConfDir, "conf.d", RecoveryConfName)); !os.IsNotExist(err) {
		t.Errorf("the recovery settings are still there: %v", err)
	}
	sdb := connect(t, ctx, s, "postgres")
	var n, last int
	if err := sdb.conn.QueryRow(ctx, "SELECT count(*), max(id) FROM t").Scan(&n, &last); err != nil || n != 100 || last != 100 {
		t.Fatalf("recovered %d rows up to %d (%v), want the 100 before the restore point", n, last, err)
	}
	exec1(t, ctx, sdb, "INSERT INTO t VALUES (201, 'on the new timeline')")
	if pending, err := sdb.PendingRestart(ctx); err != nil || len(pending) != 0 {
		t.Errorf("settings pending a restart after recovery: %v %v", pending, err)
	}
	t.Logf("progress reports during replay: %v", progress)
}
