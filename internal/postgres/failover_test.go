package postgres

import (
	"testing"

	"github.com/pgcharm/postgresql/internal/wal"
)

// TestFailoverOthersFollowByReload: the primary dies, the most advanced
// standby is promoted, and another standby follows it on the new timeline
// through a configuration reload, without a restart or a rewind.
func TestFailoverOthersFollowByReload(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	p, s1, password := newPair(t, ctx, v)

	s2 := addStandby(t, ctx, v, p, password, 2)
	pdb := connect(t, ctx, p, "postgres")
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'before failover' FROM generate_series(1, 1000) g")
	db1 := connect(t, ctx, s1, "postgres")
	db2 := connect(t, ctx, s2, "postgres")
	waitFor(t, ctx, db1, "SELECT count(*)::text FROM t", "1000")
	waitFor(t, ctx, db2, "SELECT count(*)::text FROM t", "1000")
	pdb.Close(ctx)

	// The primary dies.
	if err := Stop(ctx, p, StopImmediate); err != nil {
		t.Fatal(err)
	}
	f1, err := db1.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := db2.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f1.Timeline != 1 || f2.Timeline != 1 || f1.ReplayLSN == 0 || f1.ReplayLSN != f2.ReplayLSN {
		t.Logf("standby positions differ or look odd: %+v / %+v", f1, f2)
	}
	// s1 is at least as advanced (both replayed everything): promote it.
	db1.Close(ctx)
	if err := Promote(ctx, s1); err != nil {
		t.Fatal(err)
	}
	db1 = connect(t, ctx, s1, "postgres")
	// The new primary's history says where timeline 1 was left: s2's WAL ends there, so
	// it follows without a rewind (plan's needsRewind reads this from the primary's report).
	h, err := db1.TimelineHistory(ctx, 2)
	if err != nil || len(h) != 1 || h[0].TLI != 1 || h[0].SwitchLSN < max(f2.FlushLSN, f2.ReplayLSN) {
		t.Fatalf("timeline history of the new primary: %+v %v (s2 at %s)", h, err, max(f2.FlushLSN, f2.ReplayLSN))
	}
	if (wal.Timeline{TLI: 2, History: h}).NeedsRewind(1, max(f2.FlushLSN, f2.ReplayLSN)) {
		t.Fatalf("s2 (timeline 1 at %s) would be rewound after %+v", max(f2.FlushLSN, f2.ReplayLSN), h)
	}
	if _, err := db1.EnsurePhysicalSlot(ctx, "unit_2"); err != nil {
		t.Fatal(err)
	}
	newUp := Upstream{Host: "127.0.0.1", Port: s1.Port, User: "repl", Password: password, AppName: "unit/2"}
	changed, err := WriteStandbyConfig(s2, StandbyConfig{Upstream: newUp, Slot: "unit_2"})
	if err != nil || !changed {
		t.Fatalf("WriteStandbyConfig: %v %v", changed, err)
	}
	pending, err := db2.ReloadConf(ctx)
	if err != nil || len(pending) > 0 {
		t.Fatalf("reload: pending %v, %v", pending, err)
	}
	exec1(t, ctx, db1, "INSERT INTO t VALUES (1001, 'after failover')")
	waitFor(t, ctx, db2, "SELECT count(*)::text FROM t", "1001")
	waitFor(t, ctx, db2, "SELECT status FROM pg_stat_wal_receiver", "streaming")
	f2, err = db2.Facts(ctx)
	if err != nil || f2.Timeline != 2 || !f2.InRecovery {
		t.Errorf("follower after failover: %+v %v", f2, err)
	}
	waitFor(t, ctx, db1, "SELECT active::text FROM pg_replication_slots WHERE slot_name = 'unit_2'", "true")

	// The new primary dies too: s2's WAL receiver goes, and with it received_tli, while its
	// last restartpoint may still be on timeline 1. It is on timeline 2 all the same.
	db1.Close(ctx)
	if err := Stop(ctx, s1, StopImmediate); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, db2, "SELECT count(*)::text FROM pg_stat_wal_receiver WHERE status = 'streaming'", "0")
	if f2, err = db2.Facts(ctx); err != nil || f2.Timeline != 2 {
		t.Errorf("a standby on timeline 2 whose primary died: %+v %v", f2, err)
	}
}
