package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/roles"
)

// newPair makes a primary with a streaming standby cloned from it: the
// path a new unit takes (fresh cluster created by the charm, then replaced
// by a clone of the primary).
func newPair(t *testing.T, ctx context.Context, v string) (p, s *Cluster, password string) {
	t.Helper()
	password = "switch-over-pw"
	rules := []hba.Rule{
		{Type: "host", Database: hba.Replication, User: "repl", Address: "127.0.0.1", Method: "scram-sha-256"},
		{Type: "host", Database: "postgres", User: "repl", Address: "127.0.0.1", Method: "scram-sha-256"},
	}
	configure := func(c *Cluster) {
		t.Helper()
		st := Baseline(BaselineOptions{})
		st.Set("listen_addresses", "127.0.0.1")
		if _, err := WriteCharmConf(c, st); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteHBA(c, rules); err != nil {
			t.Fatal(err)
		}
	}
	p = newCluster(t, ctx, v).Cluster
	configure(p)
	if err := Restart(ctx, p); err != nil {
		t.Fatal(err)
	}
	db := connect(t, ctx, p, "postgres")
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: "repl", Login: true, Replication: true, Password: password}); err != nil {
		t.Fatal(err)
	}
	if err := db.GrantRewind(ctx, "repl"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsurePhysicalSlot(ctx, "unit_1"); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, db, "CREATE TABLE t (id int PRIMARY KEY, origin text)")
	db.Close(ctx)

	s = newCluster(t, ctx, v).Cluster
	configure(s)
	if err := Stop(ctx, s, StopFast); err != nil {
		t.Fatal(err)
	}
	up := Upstream{Host: "127.0.0.1", Port: p.Port, User: "repl", Password: password, AppName: "unit/1"}
	if _, err := Clone(ctx, v, s.DataDir, up, CloneOptions{Slot: "unit_1", MoveAside: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteStandbyConfig(s, StandbyConfig{Upstream: up, Slot: "unit_1"}); err != nil {
		t.Fatal(err)
	}
	if err := Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	return p, s, password
}

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
	if err := sdb.Conn().QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 5000 {
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
