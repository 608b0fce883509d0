package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplication: deploy -n 3, writes reach both standbys, switchover and back, then
// the primary's unit is removed under a continuous writer: the most advanced standby takes
// over and no acknowledged row is lost. The removal runs in Juju 3.6's order
// (worker/uniter/resolver.go: pgdata-storage-detaching before the relations, stop and
// remove): PostgreSQL stops in storage-detaching, and no later hook of the dying unit
// creates, clones or starts a cluster without its volume.
func TestReplication(t *testing.T) {
	s, subnet := newSim(t, "walex")
	host := netip.MustParsePrefix(subnet).Addr().Next()
	start := time.Now()
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G",
		"--config", "admin_addresses="+host.String())
	t.Logf("deploy -n 3 to all active: %s", time.Since(start).Round(time.Millisecond))
	primary, standbys := expectRoles(t, s, "postgresql", 2)

	psql(s, primary, "CREATE TABLE ts (t timestamptz); INSERT INTO ts VALUES (now())")
	for _, u := range standbys {
		eventually(t, 30*time.Second, "the row on "+u, func() bool {
			out, err := psqlE(s, u, "SELECT count(*) FROM ts")
			return err == nil && out == "1"
		})
		if out, _ := psqlE(s, u, "INSERT INTO ts VALUES (now())"); strings.Contains(out, "INSERT") {
			t.Fatalf("standby %s accepted a write", u)
		}
	}

	// Switchover to a standby and back: no row lost, the old primary follows.
	leader := s.Leader("", "postgresql")
	target := standbys[0]
	res := s.RunAction(leader, "switchover", "master="+target)
	if res.Status != "completed" || res.Results["result"] != "Initiated switchover of master to "+target {
		t.Fatalf("switchover: %+v", res)
	}
	if p, _ := expectRoles(t, s, "postgresql", 2); p != target {
		t.Fatalf("after switchover the primary is %s, want %s", p, target)
	}
	psql(s, target, "INSERT INTO ts VALUES (now())")
	eventually(t, 30*time.Second, "the old primary to follow the new one", func() bool {
		out, err := psqlE(s, primary, "SELECT count(*) FROM ts")
		return err == nil && out == "2"
	})
	if res := s.RunAction(leader, "switchover", "master="+primary); res.Status != "completed" {
		t.Fatalf("switchover back: %+v", res)
	}
	if p, _ := expectRoles(t, s, "postgresql", 2); p != primary {
		t.Fatalf("after switching back the primary is %s, want %s", p, primary)
	}
	if res := s.RunAction(leader, "switchover", "master="+primary); res.Results["result"] != primary+" is already master" {
		t.Errorf("switchover to the primary: %+v", res)
	}
	if res := s.RunAction(standbys[1], "switchover", "master="+standbys[1]); leader != standbys[1] && res.Status != "failed" {
		t.Errorf("switchover on a non-leader must fail: %+v", res)
	}

	// Failover under load.
	psql(s, primary, "CREATE ROLE writer LOGIN PASSWORD 'writer-test-password'; CREATE TABLE acked (id int PRIMARY KEY); GRANT INSERT, SELECT ON acked TO writer")
	addrs := map[string]string{}
	for name, u := range s.Status("").Applications["postgresql"].Units {
		addrs[name] = u.Address
	}
	w := startWriter(addrs)
	eventually(t, 30*time.Second, "the writer's first rows", func() bool { return w.count() > 20 })
	removed := time.Now()
	s.Run("remove-unit", primary)
	newPrimary, _ := expectRoles(t, s, "postgresql", 1)
	acksBefore := w.count()
	eventually(t, 60*time.Second, "writes on the new primary", func() bool { return w.count() > acksBefore+20 })
	t.Logf("failover: %s from remove-unit to a writable %s (writer's first write after the switch: %s)",
		time.Since(removed).Round(time.Millisecond), newPrimary, w.firstWriteAfter(removed).Round(time.Millisecond))
	acked := w.stop()
	teardownWithoutStorage(t, s, primary)
	// Every acknowledged row must be there; a row whose acknowledgement was lost as the
	// old primary shut down may be there too.
	missing := psql(s, newPrimary, fmt.Sprintf("SELECT count(*) FROM unnest('{%s}'::int[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM acked a WHERE a.id = u.id)", joinInts(acked)))
	if missing != "0" {
		t.Fatalf("%s acknowledged rows missing on %s", missing, newPrimary)
	}
	t.Logf("%d acknowledged rows, all present on %s (%s rows in all)", len(acked), newPrimary,
		psql(s, newPrimary, "SELECT count(*) FROM acked"))
}

// writer inserts increasing ids into acked on whichever unit is primary, remembering the
// ids the server acknowledged.
type writer struct {
	mu     sync.Mutex
	acked  []int
	times  []time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func startWriter(addrs map[string]string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		for id := 1; ctx.Err() == nil; {
			if conn == nil {
				conn = connectPrimary(ctx, addrs)
				if conn == nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
			}
			// Bounded: a primary cut off by a partition never answers, and its
			// connection would otherwise hang until TCP gives up.
			ectx, ecancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := conn.Exec(ectx, "INSERT INTO acked VALUES ($1)", id)
			ecancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				id++ // an unacknowledged id may or may not have committed; never reuse it
				continue
			}
			w.mu.Lock()
			w.acked, w.times = append(w.acked, id), append(w.times, time.Now())
			w.mu.Unlock()
			id++
		}
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	return w
}

func connectPrimary(ctx context.Context, addrs map[string]string) *pgx.Conn {
	for _, a := range addrs {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, fmt.Sprintf("host=%s port=5432 dbname=postgres user=writer password=writer-test-password sslmode=require connect_timeout=2", a))
		cancel()
		if err != nil {
			continue
		}
		var standby bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err == nil && !standby {
			return conn
		}
		conn.Close(context.Background())
	}
	return nil
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// firstWriteAfter is how long after t the first write that followed a gap succeeded.
func (w *writer) firstWriteAfter(t time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var prev time.Time
	for _, at := range w.times {
		if at.After(t) && !prev.IsZero() && at.Sub(prev) > 500*time.Millisecond {
			return at.Sub(t)
		}
		prev = at
	}
	return 0
}

func (w *writer) stop() []int {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.acked...)
}

func joinInts(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}
