package postgres

import (
	"testing"
	"time"
)

// TestProbe reads what the failover agent reads, as the replication role with pg_monitor,
// from a primary and its streaming standby: roles, the standby's WAL receiver hearing from
// its primary, the primary's streaming standbys and quorum; a stopped primary leaves the
// standby's receiver not streaming.
func TestProbe(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	p, s, password := newPair(t, ctx, v)
	pdb := connect(t, ctx, p, "postgres")
	if _, err := pdb.GrantRole(ctx, "pg_monitor", "repl"); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, pdb, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (\"unit/1\")'")
	exec1(t, ctx, pdb, "SELECT pg_reload_conf()")
	exec1(t, ctx, pdb, "INSERT INTO t VALUES (1, 'probe')")
	pdb.Close(ctx)
	dial := func(c *Cluster) *DB {
		t.Helper()
		db, err := Dial(ctx, replConfig(t, c, password))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close(ctx) })
		return db
	}
	pp, sp := dial(p), dial(s)
	var pf, sf *ProbeFacts
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if pf, err = pp.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		if sf, err = sp.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		if len(pf.Standbys) == 1 && sf.ReceiverStreaming && sf.Flushed >= pf.Flushed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby not caught up: primary %+v, standby %+v", pf, sf)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pf.InRecovery || pf.Timeline != 1 || pf.Flushed == 0 || pf.SyncNames != `ANY 1 ("unit/1")` || pf.Standbys[0] != "unit/1" {
		t.Errorf("primary: %+v", pf)
	}
	if !sf.InRecovery || sf.Timeline != 1 || sf.Replayed == 0 || sf.ReceiverAge < 0 || sf.ReceiverAge > time.Minute {
		t.Errorf("standby: %+v", sf)
	}
	if err := Stop(ctx, p, StopFast); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := sp.Probe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !f.ReceiverStreaming {
			if f.Flushed < sf.Flushed {
				t.Errorf("the standby's flushed WAL went back from %s to %s", sf.Flushed, f.Flushed)
			}
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("the standby still streams from a stopped primary")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
