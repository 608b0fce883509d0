package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// wake runs the unit's charm as its agent does when what it probes changes: in a hook
// context (juju-exec), dispatching update-status.
func wake(s *simtest.Sim, unit string) {
	s.T.Helper()
	s.Exec(unit, "env", "JUJU_DISPATCH_PATH=hooks/update-status", "./dispatch")
}

// pgctl runs pg_ctlcluster on a unit's machine for its one cluster, as the charm does
// (not through systemd, which does not know a server the charm started).
func pgctl(s *simtest.Sim, unit, verb string) {
	s.T.Helper()
	s.Exec(unit, "sh", "-c", `exec pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main `+verb)
}

// workloadMessage is a unit's status message.
func workloadMessage(s *simtest.Sim, unit string) string {
	app, _, _ := strings.Cut(unit, "/")
	return s.Status("").Applications[app].Units[unit].Workload.Message
}

// TestQuorumCommit: with the default synchronous_standbys=1 the primary acknowledges a
// commit only once a standby has flushed it. With synchronous_strict, a primary whose one
// standby is stopped acknowledges nothing (the commit waits in SyncRep); without it, the
// primary relaxes to asynchronous commit at its next wake-up, says so, and writes go on.
// The standby list follows units joining and failing with a reload (the postmaster keeps
// its pid), and synchronous_standbys=0 is asynchronous replication.
func TestQuorumCommit(t *testing.T) {
	s, _ := newSim(t, "quorum")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	standby := standbys[0]
	postmaster := psql(s, primary, "SELECT pg_postmaster_start_time()")
	names := func() string { return psql(s, primary, "SHOW synchronous_standby_names") }
	syncState := func() string {
		return psql(s, primary, "SELECT string_agg(application_name || ':' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication")
	}
	if got := names(); got != `ANY 1 ("`+standby+`")` {
		// The standby may have published before its WAL receiver streamed; its agent's
		// wake-up (simulated here) brings it in.
		wake(s, primary)
		if got = names(); got != `ANY 1 ("`+standby+`")` {
			t.Fatalf("synchronous_standby_names %q, want ANY 1 (%q)", got, standby)
		}
	}
	if got := syncState(); got != standby+":quorum" {
		t.Errorf("pg_stat_replication: %q, want %s:quorum", got, standby)
	}
	if got := psql(s, primary, "SHOW synchronous_commit"); got != "on" {
		t.Errorf("synchronous_commit %q", got)
	}
	psql(s, primary, "CREATE TABLE q (v text); INSERT INTO q VALUES ('both')")

	// Strict: the standby stops; the commit is not acknowledged.
	s.Run("config", "postgresql", "synchronous_strict=true")
	pgctl(s, standby, "stop -m fast")
	wake(s, primary)
	if got := names(); got != `ANY 1 ("`+standby+`")` {
		t.Errorf("strict, standby stopped: synchronous_standby_names %q", got)
	}
	if msg := workloadMessage(s, primary); !strings.HasPrefix(msg, "Live master") ||
		!strings.Contains(msg, "commits wait: 0 of 1 synchronous standbys streaming (synchronous_strict)") {
		t.Errorf("strict primary's status %q does not say that commits wait", msg)
	}
	out, _, err := s.RunE("exec", primary, "--", "timeout", "-s", "KILL", "5", "runuser", "-u", "postgres", "--",
		"psql", "-XAtc", "INSERT INTO q VALUES ('strict')")
	if err == nil || strings.Contains(out, "INSERT 0 1") {
		t.Fatalf("strict: a commit was acknowledged with the only standby stopped: %q %v", out, err)
	}
	if got := psql(s, primary, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"); got != "1" {
		t.Errorf("strict: %s backends waiting for a standby, want 1", got)
	}

	// The standby comes back: the waiting commit is acknowledged.
	pgctl(s, standby, "start")
	eventually(t, 30*time.Second, "the strict commit acknowledged once "+standby+" is back", func() bool {
		return psql(s, primary, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") == "0"
	})

	// Relaxed: the standby stops again; the primary's next wake-up relaxes to asynchronous
	// commit, the status says so, and writes go on.
	s.Run("config", "postgresql", "synchronous_strict=false")
	pgctl(s, standby, "stop -m fast")
	wake(s, primary)
	if got := names(); got != "" {
		t.Errorf("relaxed, standby stopped: synchronous_standby_names %q, want empty", got)
	}
	if msg := workloadMessage(s, primary); !strings.HasPrefix(msg, "Live master") || !strings.Contains(msg, "asynchronous: no standby streaming") {
		t.Errorf("relaxed primary's status %q does not say it is asynchronous", msg)
	}
	psql(s, primary, "INSERT INTO q VALUES ('relaxed')")
	if got := psql(s, primary, "SELECT string_agg(v, ',' ORDER BY v) FROM q"); got != "both,relaxed,strict" {
		t.Errorf("rows on the relaxed primary: %q", got)
	}

	// The standby comes back: the list takes it again, without a restart.
	pgctl(s, standby, "start")
	eventually(t, 30*time.Second, standby+" streaming again", func() bool {
		return psql(s, primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"
	})
	wake(s, primary)
	if got := names(); got != `ANY 1 ("`+standby+`")` {
		t.Errorf("standby back: synchronous_standby_names %q", got)
	}
	if msg := workloadMessage(s, primary); strings.Contains(msg, "asynchronous") {
		t.Errorf("status still says asynchronous: %q", msg)
	}
	if got := psql(s, standby, "SELECT string_agg(v, ',' ORDER BY v) FROM q"); got != "both,relaxed,strict" {
		t.Errorf("rows on %s: %q", standby, got)
	}

	// A joining unit enters the list once it streams.
	s.Run("add-unit", "postgresql")
	_, standbys = expectRoles(t, s, "postgresql", 2)
	want := `ANY 1 ("` + strings.Join(sortedUnits(standbys), `", "`) + `")`
	if got := names(); got != want {
		wake(s, primary)
		if got = names(); got != want {
			t.Errorf("after add-unit: synchronous_standby_names %q, want %q", got, want)
		}
	}
	psql(s, primary, "INSERT INTO q VALUES ('three')")

	// Asynchronous by option.
	s.Run("config", "postgresql", "synchronous_standbys=0")
	if got := names(); got != "" {
		t.Errorf("synchronous_standbys=0: synchronous_standby_names %q", got)
	}
	if got := psql(s, primary, "SELECT string_agg(DISTINCT sync_state, ',') FROM pg_stat_replication"); got != "async" {
		t.Errorf("synchronous_standbys=0: sync states %q", got)
	}
	if got := psql(s, primary, "SELECT pg_postmaster_start_time()"); got != postmaster {
		t.Errorf("the primary restarted (%s, was %s): the quorum must change with a reload", got, postmaster)
	}
	// extra_pg_conf cannot take the quorum back.
	s.Run("config", "postgresql", "extra_pg_conf=synchronous_commit = off")
	if msg := workloadMessage(s, primary); !strings.Contains(msg, "synchronous_commit is managed by the charm") {
		t.Errorf("extra_pg_conf setting synchronous_commit: status %q", msg)
	}
}

// sortedUnits orders unit names by number.
func sortedUnits(units []string) []string {
	out := slices.Clone(units)
	slices.SortFunc(out, func(a, b string) int { return plan.UnitNumber(a) - plan.UnitNumber(b) })
	return out
}
