package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSwitchover hands the primary role over without losing a committed
// row: stop the primary cleanly, wait until the standby replayed its
// shutdown checkpoint, promote, and make the old primary follow.
func TestSwitchover(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	p, s, password := newPair(t, ctx, v)

	pdb := connect(t, ctx, p, "postgres")
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'old primary' FROM generate_series(1, 5000) g")
	pdb.Close(ctx)
	up0 := Upstream{Host: "127.0.0.1", Port: p.Port, User: "repl", Password: password}
	if _, err := Clone(ctx, v, s.DataDir, up0, CloneOptions{MoveAside: true}); err == nil || !strings.Contains(err.Error(), "a server is running on it") {
		t.Errorf("clone over a running server: %v", err)
	}
	if err := Stop(ctx, p, StopFast); err != nil {
		t.Fatal(err)
	}
	cd, err := ReadControlData(ctx, p)
	if err != nil || cd.State != "shut down" {
		t.Fatalf("control data: %+v %v", cd, err)
	}
	sdb := connect(t, ctx, s, "postgres")
	if err := sdb.WaitReplay(ctx, cd.CheckpointLSN+1); err != nil {
		t.Fatal(err)
	}
	sdb.Close(ctx)
	if err := Promote(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := Promote(ctx, s); err != nil {
		t.Errorf("second Promote: %v", err)
	}
	sdb = connect(t, ctx, s, "postgres")
	var n int
	if err := sdb.conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 5000 {
		t.Fatalf("rows on the new primary: %d %v", n, err)
	}
	if _, err := sdb.EnsurePhysicalSlot(ctx, "unit_0"); err != nil {
		t.Fatal(err)
	}
	up := Upstream{Host: "127.0.0.1", Port: s.Port, User: "repl", Password: password, AppName: "unit/0"}
	var out strings.Builder
	if err := Rewind(ctx, p, up, false, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteStandbyConfig(p, StandbyConfig{Upstream: up, Slot: "unit_0"}); err != nil {
		t.Fatal(err)
	}
	if err := Start(ctx, p); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, sdb, "INSERT INTO t VALUES (5001, 'new primary')")
	pdb = connect(t, ctx, p, "postgres")
	waitFor(t, ctx, pdb, "SELECT count(*)::text FROM t", "5001")
	f, err := pdb.Facts(ctx)
	if err != nil || !f.InRecovery || f.Timeline != 2 {
		t.Errorf("old primary after switchover: %+v %v", f, err)
	}
	t.Logf("pg_rewind after a clean switchover: %s", strings.TrimSpace(out.String()))
}

// TestSwitchoverWaitsForReplay: the new primary promotes only once it has replayed the old
// primary's last record. With its replay paused, CatchUp reports it short (and why), the
// standby stays in recovery and keeps every row; once resumed it catches up, promotes and
// serves all of them. Measure reads both servers over TCP as the replication role.
func TestSwitchoverWaitsForReplay(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	p, s, password := newPair(t, ctx, v)
	pdb := connect(t, ctx, p, "postgres")
	if _, err := pdb.GrantRole(ctx, "pg_monitor", "repl"); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'before the pause' FROM generate_series(1, 100) g")
	sdb := connect(t, ctx, s, "postgres")
	waitFor(t, ctx, sdb, "SELECT count(*)::text FROM t", "100")

	pf, err := Measure(ctx, replConfig(t, p, password))
	if err != nil || pf.InRecovery || pf.Timeline != 1 || pf.CurrentLSN == 0 {
		t.Fatalf("measure the primary: %+v %v", pf, err)
	}
	sf, err := Measure(ctx, replConfig(t, s, password))
	if err != nil || !sf.InRecovery || sf.ReceiverStatus != "streaming" || sf.ReplayPaused || sf.SystemIdentifier != pf.SystemIdentifier {
		t.Fatalf("measure the standby: %+v %v", sf, err)
	}
	bad := replConfig(t, s, password)
	bad.Password = "wrong"
	if _, err := Measure(ctx, bad); err == nil {
		t.Error("Measure with a wrong password succeeded")
	}

	if err := sdb.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'the old primary''s last rows' FROM generate_series(101, 1100) g")
	pdb.Close(ctx)
	if err := Stop(ctx, p, StopFast); err != nil {
		t.Fatal(err)
	}
	cd, err := ReadControlData(ctx, p)
	if err != nil || cd.State != "shut down" {
		t.Fatalf("control data: %+v %v", cd, err)
	}
	final := cd.CheckpointLSN + 1

	err = CatchUp(ctx, s, final, 2*time.Second)
	var behind *BehindError
	if !errors.As(err, &behind) || !behind.Paused || behind.Replayed >= final || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("CatchUp with replay paused: %v", err)
	}
	if behind.Received < final {
		t.Errorf("the fast shutdown did not stream the final WAL: received %s, final %s", behind.Received, final)
	}
	if f, err := sdb.Facts(ctx); err != nil || !f.InRecovery {
		t.Fatalf("the standby left recovery: %+v %v", f, err)
	}
	var n int
	if err := sdb.conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n >= 1100 {
		t.Fatalf("paused standby shows %d rows (%v), want fewer than 1100", n, err)
	}

	if err := sdb.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if err := CatchUp(ctx, s, final, time.Minute); err != nil {
		t.Fatal(err)
	}
	sdb.Close(ctx)
	if err := Promote(ctx, s); err != nil {
		t.Fatal(err)
	}
	sdb = connect(t, ctx, s, "postgres")
	defer sdb.Close(ctx)
	var last int
	if err := sdb.conn.QueryRow(ctx, "SELECT count(*), max(id) FROM t").Scan(&n, &last); err != nil || n != 1100 || last != 1100 {
		t.Fatalf("the new primary holds %d rows up to %d (%v), want 1100", n, last, err)
	}
	if f, err := sdb.Facts(ctx); err != nil || f.InRecovery || f.Timeline != 2 {
		t.Errorf("new primary: %+v %v", f, err)
	}
}
