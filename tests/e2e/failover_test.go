package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/agent"
	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// failoverSetup deploys three units on system machines, makes sure the primary is not the
// leader (a switchover when it is), waits until every unit's agent reaches every server,
// and creates the writer's table. It returns the primary, the leader and the addresses.
func failoverSetup(t *testing.T, model string, primaryLeads bool, env ...string) (s *simtest.Sim, primary, leader string, addrs map[string]string) {
	s, subnet := newSim(t, model)
	s.SystemMachines()
	for i := 0; i+1 < len(env); i += 2 {
		s.Setenv(env[i], env[i+1])
	}
	host := netip.MustParsePrefix(subnet).Addr().Next()
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G",
		"--config", "admin_addresses="+host.String())
	primary, standbys := expectRoles(t, s, "postgresql", 2)
	leader = s.Leader("", "postgresql")
	if (leader == primary) != primaryLeads {
		target := standbys[0]
		if primaryLeads {
			target = leader
		}
		if res := s.RunAction(leader, "switchover", "master="+target); res.Status != "completed" {
			t.Fatalf("switchover to %s: %+v", target, res)
		}
		if primary, _ = expectRoles(t, s, "postgresql", 2); primary != target {
			t.Fatalf("after switchover the primary is %s, want %s", primary, target)
		}
	}
	addrs = map[string]string{}
	for name, u := range s.Status("").Applications["postgresql"].Units {
		addrs[name] = u.Address
	}
	for u := range addrs {
		eventually(t, 60*time.Second, u+"'s agent reaching every server", func() bool {
			rep, err := agentReport(s, u)
			if err != nil || len(rep.Units) != len(addrs) {
				return false
			}
			for _, v := range rep.Units {
				if !v.Reachable {
					return false
				}
			}
			return rep.Units[primary].SeenPrimary && rep.Units[primary].SyncNames != ""
		})
	}
	psql(s, primary, "CREATE ROLE writer LOGIN PASSWORD 'writer-test-password'; CREATE TABLE acked (id int PRIMARY KEY); GRANT INSERT, SELECT ON acked TO writer")
	return s, primary, leader, addrs
}

// agentReport reads a unit's agent observations over a plain root shell on its machine
// (not a hook context, so it never waits for the unit's hooks).
func agentReport(s *simtest.Sim, unit string) (agent.Report, error) {
	var rep agent.Report
	out, _, err := s.RunE("ssh", unit, "cat", agent.ReportPath)
	if err != nil {
		return rep, err
	}
	return rep, json.Unmarshal([]byte(out), &rep)
}

// sqlRole is "primary" or "standby" as the unit's server says, or "" when it does not answer.
func sqlRole(s *simtest.Sim, unit string) string {
	out, _, err := s.RunE("ssh", unit, "runuser", "-u", "postgres", "--", "psql", "-XAtc", "'SELECT pg_is_in_recovery()'")
	switch strings.TrimSpace(out) {
	case "t":
		return "standby"
	case "f":
		if err == nil {
			return "primary"
		}
	}
	return ""
}

// settle runs what the agents' juju-exec writes queued: jujusim runs hooks (and lets
// leases lapse) only while a command runs.
func settle(s *simtest.Sim) { _, _, _ = s.RunE("wait") }

// checkAcked fails unless every acknowledged id is in acked on unit (read as the writer,
// over the network: the ids are too many for a command line).
func checkAcked(t *testing.T, addrs map[string]string, unit string, acked []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=5432 dbname=postgres user=writer password=writer-test-password sslmode=require connect_timeout=5", addrs[unit]))
	if err != nil {
		t.Fatalf("connect to %s: %v", unit, err)
	}
	defer conn.Close(context.Background())
	var missing, all int
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM unnest($1::int[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM acked a WHERE a.id = u.id)), (SELECT count(*) FROM acked)",
		acked).Scan(&missing, &all); err != nil {
		t.Fatalf("count the acknowledged rows on %s: %v", unit, err)
	}
	if missing != 0 {
		t.Fatalf("%d of %d acknowledged rows missing on %s", missing, len(acked), unit)
	}
	t.Logf("%d acknowledged rows, all present on %s (%d rows in all)", len(acked), unit, all)
}

// TestFailoverCrashPrimary: the primary's machine (not the leader's) crashes under a
// continuous writer. The agents see it gone for failover_timeout (10 s), the leader marks
// it failed and promotes the most advanced standby, and writes go on there with every
// acknowledged row; the db relation's client is given the new master; after start-machine
// the old primary rejoins as a standby of the new one.
func TestFailoverCrashPrimary(t *testing.T) { crashPrimary(t, "fo-crash", false) }

// TestFailoverCrashPrimaryLeader: the same when the primary is also the leader. Juju moves
// leadership once the lease lapses (15 s here, JUJUSIM_LEASE_TIME); the new leader's
// agent has probed all along and its leader-elected (or next wake-up) fails over.
func TestFailoverCrashPrimaryLeader(t *testing.T) { crashPrimary(t, "fo-crashlead", true) }

func crashPrimary(t *testing.T, model string, primaryLeads bool) {
	s, primary, _, addrs := failoverSetup(t, model, primaryLeads, "JUJUSIM_LEASE_TIME", "15s")
	if !primaryLeads {
		s.Run("deploy", clientCharm(t), "postgresql-client")
		s.Run("integrate", "postgresql:db", "postgresql-client:db")
	}
	w := startWriter(addrs)
	eventually(t, 30*time.Second, "the writer's first rows", func() bool { return w.count() > 20 })
	started := map[string]string{}
	for u := range addrs {
		if u != primary {
			started[u] = psql(s, u, "SELECT pg_postmaster_start_time()")
		}
	}
	crashed := time.Now()
	s.Run("crash", primary)
	waitWrites(t, s, w, addrs, 150*time.Second, "the crash of "+primary)
	took := w.firstWriteAfter(crashed)
	t.Logf("failover: the crash of %s to the first acknowledged write on a new primary: %s (target 30 s)", primary, took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Logf("slower than the 30 s target on this machine")
	}
	if primaryLeads {
		if l := s.Leader("", "postgresql"); l == primary || l == "" {
			t.Errorf("leadership is still %q after the failover", l)
		}
	}
	newPrimary := onlyPrimary(t, s, addrs, primary)
	acked := w.stop()
	checkAcked(t, addrs, newPrimary, acked)
	// The other standby had no more WAL than the promoted one (quorum commit and the
	// choice of the most advanced): it follows the new timeline by a reload, never
	// stopped for a rewind, so the new primary's quorum keeps a standby.
	tli := psql(s, newPrimary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")
	for u, at := range started {
		if u == newPrimary {
			continue
		}
		eventually(t, 60*time.Second, u+" streaming timeline "+tli+" from "+newPrimary, func() bool {
			settle(s)
			out, err := psqlE(s, u, "SELECT status || ' ' || received_tli FROM pg_stat_wal_receiver")
			return err == nil && out == "streaming "+tli
		})
		if now := psql(s, u, "SELECT pg_postmaster_start_time()"); now != at {
			t.Errorf("%s was restarted by the failover (up since %s, now since %s): a standby no further than the new primary follows it without a rewind", u, at, now)
		}
	}
	if !primaryLeads {
		hosts := []string{"host=" + addrs[newPrimary] + " ",
			"host=" + strings.TrimSpace(s.Run("exec", newPrimary, "--", "unit-get", "private-address")) + " "}
		for u := range addrs {
			if u == primary {
				continue
			}
			eventually(t, 60*time.Second, u+" publishing the new master "+newPrimary, func() bool {
				settle(s)
				m := served(t, s, "", u, "db", "postgresql-client")["master"]
				return strings.Contains(m, hosts[0]) || strings.Contains(m, hosts[1])
			})
		}
		t.Logf("clients: every surviving unit publishes %s as the db relation's master", newPrimary)
	}

	s.Run("start-machine", primary)
	rejoins(t, s, addrs, primary, newPrimary, acked)
}

// waitWrites settles until the writer has 20 more acknowledged rows, or fails after limit.
func waitWrites(t *testing.T, s *simtest.Sim, w *writer, addrs map[string]string, limit time.Duration, after string) {
	t.Helper()
	before := w.count()
	deadline := time.Now().Add(limit)
	for w.count() < before+20 {
		if time.Now().After(deadline) {
			for u := range addrs {
				t.Logf("%s: %s", u, s.Run("debug-log", "--include", u, "-n", "30"))
			}
			t.Fatalf("no writes on a primary within %s of %s", limit, after)
		}
		settle(s)
		time.Sleep(time.Second)
	}
}

// onlyPrimary is the one unit other than except that answers as a primary.
func onlyPrimary(t *testing.T, s *simtest.Sim, addrs map[string]string, except string) string {
	t.Helper()
	var p string
	for u := range addrs {
		if u != except && sqlRole(s, u) == "primary" {
			if p != "" {
				t.Fatalf("two primaries: %s and %s", p, u)
			}
			p = u
		}
	}
	if p == "" {
		t.Fatal("no unit answers as primary")
	}
	return p
}

// rejoins waits until old follows primary again, holding every acknowledged row.
func rejoins(t *testing.T, s *simtest.Sim, addrs map[string]string, old, primary string, acked []int) {
	t.Helper()
	eventually(t, 120*time.Second, old+" back as a standby", func() bool {
		settle(s)
		return sqlRole(s, old) == "standby"
	})
	settle(s)
	p, standbys := expectRoles(t, s, "postgresql", 2)
	if p != primary || !slices.Contains(standbys, old) {
		t.Fatalf("after %s's return: primary %s, standbys %v; want %s with %s among the standbys", old, p, standbys, primary, old)
	}
	want := psql(s, primary, "SELECT count(*) FROM acked")
	eventually(t, 30*time.Second, old+" replaying the primary's rows", func() bool {
		out, err := psqlE(s, old, "SELECT count(*) FROM acked")
		return err == nil && out == want
	})
	checkAcked(t, addrs, old, acked)
}

// pinnedWriter inserts ids from base up on one address only, recording when each was
// acknowledged: with one on every unit, no two units may acknowledge writes at once.
func pinnedWriter(addr string, base int) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		for id := base; ctx.Err() == nil; id++ {
			if conn == nil {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				c, err := pgx.Connect(cctx, fmt.Sprintf("host=%s port=5432 dbname=postgres user=writer password=writer-test-password sslmode=require connect_timeout=2", addr))
				ccancel()
				if err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				conn = c
			}
			ectx, ecancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := conn.Exec(ectx, "INSERT INTO acked VALUES ($1)", id)
			ecancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				time.Sleep(100 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.acked, w.times = append(w.acked, id), append(w.times, time.Now())
			w.mu.Unlock()
		}
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	return w
}

// ackSpan is the first and last acknowledgement at or after t.
func (w *writer) ackSpan(t time.Time) (first, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.times {
		if at.Before(t) {
			continue
		}
		if first.IsZero() {
			first = at
		}
		last = at
	}
	return first, last
}

// TestFailoverPartitionPrimary: the primary's machine is cut off under writers on every
// address. With quorum commit it acknowledges nothing once cut off; its agent fences it
// (stops the server) within the timeout plus a margin; the leader fails over; no
// acknowledged row is lost and no moment has two units acknowledging writes; after heal
// the old primary rejoins as a standby.
func TestFailoverPartitionPrimary(t *testing.T) {
	s, primary, _, addrs := failoverSetup(t, "fo-part", false)
	w := startWriter(addrs)
	pinned := map[string]*writer{}
	base := 100000000
	for _, u := range sortedKeys(addrs) {
		pinned[u] = pinnedWriter(addrs[u], base)
		base += 100000000
	}
	eventually(t, 30*time.Second, "the writers' first rows", func() bool { return w.count() > 20 && pinned[primary].count() > 20 })
	cut := time.Now()
	s.Run("partition", primary)
	eventually(t, 45*time.Second, primary+" fencing itself", func() bool { return sqlRole(s, primary) == "" })
	t.Logf("fencing: %s stopped its server %s after the partition (failover_timeout 10 s)", primary, time.Since(cut).Round(100*time.Millisecond))
	eventually(t, 20*time.Second, primary+"'s agent saying it fenced", func() bool {
		rep, err := agentReport(s, primary)
		return err == nil && rep.Fenced != ""
	})
	waitWrites(t, s, w, addrs, 150*time.Second, "the partition of "+primary)
	t.Logf("failover: the partition of %s to the first acknowledged write on a new primary: %s", primary, w.firstWriteAfter(cut).Round(100*time.Millisecond))
	newPrimary := onlyPrimary(t, s, addrs, primary)
	eventually(t, 30*time.Second, "writes on "+newPrimary+"'s own address", func() bool {
		first, _ := pinned[newPrimary].ackSpan(cut)
		return !first.IsZero()
	})
	var acked []int
	for _, u := range sortedKeys(addrs) {
		acked = append(acked, pinned[u].stop()...)
	}
	acked = append(acked, w.stop()...)
	_, lastOld := pinned[primary].ackSpan(time.Time{})
	firstNew, _ := pinned[newPrimary].ackSpan(cut)
	if !lastOld.Before(firstNew) {
		t.Errorf("two units acknowledged writes at once: %s's last at %s, %s's first at %s", primary, lastOld, newPrimary, firstNew)
	}
	t.Logf("%s acknowledged its last write %s after the partition began; %s its first %s after it", primary,
		lastOld.Sub(cut).Round(time.Millisecond), newPrimary, firstNew.Sub(cut).Round(100*time.Millisecond))
	checkAcked(t, addrs, newPrimary, acked)

	s.Run("heal", primary)
	rejoins(t, s, addrs, primary, newPrimary, acked)
}

// TestFailoverNotNeeded: faults that must not fail the primary over. A standby's machine
// crashes (writes go on, the other standby confirms them); the leader's machine crashes
// while it is a standby (leadership moves, the primary stays); every PostgreSQL process of
// the primary is stopped (SIGSTOP) for 5 s, less than the timeout. First, a charm upgrade
// restarts every agent on the new binary.
func TestFailoverNotNeeded(t *testing.T) {
	s, primary, leader, addrs := failoverSetup(t, "fo-none", false, "JUJUSIM_LEASE_TIME", "10s")
	started := map[string]time.Time{}
	for u := range addrs {
		rep, err := agentReport(s, u)
		if err != nil {
			t.Fatal(err)
		}
		started[u] = rep.Started
	}
	s.Run("refresh", "postgresql", "--path", postgresqlCharm(t))
	for u := range addrs {
		eventually(t, 30*time.Second, u+"'s agent restarted on the upgraded charm", func() bool {
			rep, err := agentReport(s, u)
			return err == nil && rep.Started.After(started[u])
		})
	}
	w := startWriter(addrs)
	eventually(t, 30*time.Second, "the writer's first rows", func() bool { return w.count() > 20 })
	var other string
	for u := range addrs {
		if u != primary && u != leader {
			other = u
		}
	}
	// stays holds for d, settling, and fails if another unit took over or writes stopped.
	stays := func(what string, d time.Duration, down string) {
		t.Helper()
		before := w.count()
		for end := time.Now().Add(d); time.Now().Before(end); {
			settle(s)
			time.Sleep(time.Second)
		}
		for u := range addrs {
			if u != down && u != primary && sqlRole(s, u) != "standby" {
				t.Fatalf("%s: %s is no longer a standby (%q)", what, u, sqlRole(s, u))
			}
		}
		if sqlRole(s, primary) != "primary" {
			t.Fatalf("%s: %s is no longer the primary", what, primary)
		}
		waitWrites(t, s, w, addrs, 30*time.Second, what)
		if w.count() <= before {
			t.Fatalf("%s: no writes", what)
		}
	}

	s.Run("crash", other)
	stays("the crash of the standby "+other, 25*time.Second, other)
	s.Run("start-machine", other)
	eventually(t, 120*time.Second, other+" back as a standby", func() bool { settle(s); return sqlRole(s, other) == "standby" })

	s.Run("crash", leader)
	stays("the crash of the leader "+leader, 25*time.Second, leader)
	if l := s.Leader("", "postgresql"); l == leader {
		t.Errorf("leadership still with the crashed %s", leader)
	}
	s.Run("start-machine", leader)
	eventually(t, 120*time.Second, leader+" back as a standby", func() bool { settle(s); return sqlRole(s, leader) == "standby" })

	paused := time.Now()
	s.Run("ssh", primary, "sh", "-c", "'pkill -STOP -u postgres; sleep 5; pkill -CONT -u postgres'")
	t.Logf("paused %s's PostgreSQL for %s", primary, time.Since(paused).Round(100*time.Millisecond))
	stays("a 5 s pause of "+primary, 15*time.Second, "")
	acked := w.stop()
	checkAcked(t, addrs, primary, acked)
	settle(s)
	if p, _ := expectRoles(t, s, "postgresql", 2); p != primary {
		t.Fatalf("the primary moved to %s", p)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestFailoverPartitionStandby: a standby's machine (not the leader's) is cut off under a
// continuous writer, with quorum commit (synchronous_standbys=1, the default). The primary
// goes on acknowledging commits, each confirmed by the other standby (its
// synchronous_standby_names still asks for one, synchronous_commit stays on); nothing fails
// over: the primary stays on its timeline and no unit promotes, the cut-off one included;
// after heal the standby streams again, is named in the standby list again, and holds
// every row the primary has.
func TestFailoverPartitionStandby(t *testing.T) {
	s, primary, leader, addrs := failoverSetup(t, "fo-partsb", false)
	var cutoff string
	for u := range addrs {
		if u != primary && u != leader {
			cutoff = u
		}
	}
	timeline := func() uint32 {
		t.Helper()
		rep, err := agentReport(s, primary)
		if err != nil {
			t.Fatalf("%s's agent report: %v", primary, err)
		}
		return rep.Units[primary].Timeline
	}
	tl := timeline()
	w := startWriter(addrs)
	eventually(t, 30*time.Second, "the writer's first rows", func() bool { return w.count() > 20 })

	cut := time.Now()
	s.Run("partition", cutoff)
	before := w.count()
	// Hold the cut well past failover_timeout (10 s), settling so that hooks and any
	// wake-up the agents queued run, and check the roles as it goes.
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		settle(s)
		time.Sleep(time.Second)
		if r := sqlRole(s, cutoff); r == "primary" {
			t.Fatalf("the cut-off %s promoted itself", cutoff)
		}
	}
	waitWrites(t, s, w, addrs, 30*time.Second, "the partition of the standby "+cutoff)
	during := w.count() - before
	for u := range addrs {
		if u != primary && u != cutoff && sqlRole(s, u) != "standby" {
			t.Fatalf("during the partition %s is no longer a standby (%q)", u, sqlRole(s, u))
		}
	}
	if r := sqlRole(s, primary); r != "primary" {
		t.Fatalf("during the partition %s is no longer the primary (%q)", primary, r)
	}
	if got := onlyPrimary(t, s, addrs, cutoff); got != primary {
		t.Fatalf("the primary moved from %s to %s", primary, got)
	}
	// The commits acknowledged through the cut each waited for a standby: the primary
	// still requires one, and only the other standby could have confirmed them.
	names := psql(s, primary, "SHOW synchronous_standby_names")
	commit := psql(s, primary, "SHOW synchronous_commit")
	if !strings.HasPrefix(names, "ANY 1 ") || commit != "on" {
		t.Fatalf("during the partition %s runs synchronous_standby_names %q, synchronous_commit %q; want ANY 1 (...) and on", primary, names, commit)
	}
	t.Logf("through %s's partition: %d commits acknowledged in %s with synchronous_standby_names %q", cutoff,
		during, time.Since(cut).Round(100*time.Millisecond), names)

	s.Run("heal", cutoff)
	eventually(t, 120*time.Second, cutoff+" streaming from "+primary+" again", func() bool {
		settle(s)
		rep, err := agentReport(s, primary)
		return err == nil && slices.Contains(rep.Units[primary].Standbys, cutoff)
	})
	// The standby list follows it back (a reload on the primary, woken by its agent).
	eventually(t, 60*time.Second, primary+"'s synchronous_standby_names naming "+cutoff+" again", func() bool {
		settle(s)
		out, err := psqlE(s, primary, "SHOW synchronous_standby_names")
		return err == nil && strings.Contains(out, `"`+cutoff+`"`)
	})
	acked := w.stop()
	want := psql(s, primary, "SELECT count(*) FROM acked")
	eventually(t, 60*time.Second, cutoff+" replaying the primary's rows", func() bool {
		out, err := psqlE(s, cutoff, "SELECT count(*) FROM acked")
		return err == nil && out == want
	})
	t.Logf("after heal %s holds the primary's %s rows", cutoff, want)
	checkAcked(t, addrs, primary, acked)
	checkAcked(t, addrs, cutoff, acked)
	settle(s)
	if p, standbys := expectRoles(t, s, "postgresql", 2); p != primary || !slices.Contains(standbys, cutoff) {
		t.Fatalf("after heal: primary %s, standbys %v; want %s with %s among the standbys", p, standbys, primary, cutoff)
	}
	if got := timeline(); got != tl {
		t.Fatalf("%s's timeline moved from %d to %d: something promoted", primary, tl, got)
	}
}
