package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

// TestSwitchoverReplayPaused: a switchover to a standby that is disconnected, or whose
// replay is paused (replication-pause), never promotes it short: the action fails with
// the reason and nothing changes, the old primary keeps serving, its last rows included. Once replay is
// resumed on the target the switchover goes through, the action reports both positions,
// and the new primary holds every row the old one acknowledged.
func TestSwitchoverReplayPaused(t *testing.T) {
	s, _ := newSim(t, "swpause")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G")
	primary, standbys := expectRoles(t, s, "postgresql", 2)
	leader := s.Leader("", "postgresql")
	target := standbys[0]
	if target == leader {
		target = standbys[1] // a target that is not the leader: its pause is another unit's
	}
	t.Logf("primary %s, leader %s, target %s", primary, leader, target)

	psql(s, primary, "CREATE TABLE acked (id int PRIMARY KEY); INSERT INTO acked SELECT generate_series(1, 100)")
	eventually(t, 30*time.Second, "the first rows on "+target, func() bool {
		out, err := psqlE(s, target, "SELECT count(*) FROM acked")
		return err == nil && out == "100"
	})
	// Disconnected: the target's WAL receiver cannot reach the primary (a bogus
	// primary_conninfo stands in for a network fault). Within the timeout it does not
	// reconnect: the action fails with the reason and changes nothing.
	psql(s, target, "ALTER SYSTEM SET primary_conninfo = 'host=192.0.2.1 connect_timeout=1'") // not in a transaction block
	psql(s, target, "SELECT pg_reload_conf()")
	eventually(t, 30*time.Second, target+" to stop streaming", func() bool {
		out, err := psqlE(s, target, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")
		return err == nil && out == "0"
	})
	psql(s, primary, "INSERT INTO acked SELECT generate_series(101, 150)")
	res := s.RunAction(leader, "switchover", "master="+target, "timeout=5")
	if res.Status != "failed" || !strings.Contains(res.Message, "not streaming") || !strings.Contains(res.Message, "nothing changed") {
		t.Fatalf("switchover to a disconnected standby: %+v", res)
	}
	t.Logf("refused: %s", res.Message)
	if p, _ := expectRoles(t, s, "postgresql", 2); p != primary {
		t.Fatalf("after the refused switchover the primary is %s, want %s", p, primary)
	}
	psql(s, target, "ALTER SYSTEM RESET primary_conninfo")
	psql(s, target, "SELECT pg_reload_conf()")
	eventually(t, 60*time.Second, target+" to catch up after reconnecting", func() bool {
		out, err := psqlE(s, target, "SELECT count(*) FROM acked")
		return err == nil && out == "150"
	})

	if res := s.RunAction(target, "replication-pause"); res.Status != "completed" || res.Results["result"] != "Paused" {
		t.Fatalf("replication-pause: %+v", res)
	}
	// The old primary's last rows: acknowledged, streamed to the target, not replayed there.
	psql(s, primary, "INSERT INTO acked SELECT generate_series(151, 200)")

	// However long the timeout, a paused target fails the action at once, with the reason.
	res = s.RunAction(leader, "switchover", "master="+target, "timeout=300")
	if res.Status != "failed" || !strings.Contains(res.Message, "paused") || !strings.Contains(res.Message, "nothing changed") {
		t.Fatalf("switchover to a paused standby: %+v", res)
	}
	t.Logf("refused: %s", res.Message)
	if p, _ := expectRoles(t, s, "postgresql", 2); p != primary {
		t.Fatalf("after the refused switchover the primary is %s, want %s", p, primary)
	}
	psql(s, primary, "INSERT INTO acked VALUES (201)")
	if out, _ := psqlE(s, target, "SELECT count(*) FROM acked"); out != "150" {
		t.Errorf("the paused target shows %s rows, want 150 (its replay is paused)", out)
	}

	// Resumed, the target catches up and the switchover goes through with every row.
	if res := s.RunAction(target, "replication-resume"); res.Status != "completed" || res.Results["result"] != "Resumed" {
		t.Fatalf("replication-resume: %+v", res)
	}
	psql(s, primary, "INSERT INTO acked VALUES (202)") // the last row before the switch
	sw := s.RunAction(leader, "switchover", "master="+target)
	if sw.Status != "completed" || sw.Results["result"] != "Initiated switchover of master to "+target {
		t.Fatalf("switchover after resume: %+v", sw)
	}
	oldLSN, err1 := wal.ParseLSN(fmt.Sprint(sw.Results["old-primary-lsn"]))
	newLSN, err2 := wal.ParseLSN(fmt.Sprint(sw.Results["new-primary-lsn"]))
	if err1 != nil || err2 != nil || oldLSN == 0 || newLSN < oldLSN {
		t.Fatalf("switchover positions: old-primary-lsn %v, new-primary-lsn %v (%v, %v)",
			sw.Results["old-primary-lsn"], sw.Results["new-primary-lsn"], err1, err2)
	}
	t.Logf("switchover: old primary at %s, new primary had replayed %s", oldLSN, newLSN)
	s.Run("wait")
	if p, _ := expectRoles(t, s, "postgresql", 2); p != target {
		t.Fatalf("after the switchover the primary is %s, want %s", p, target)
	}
	// The target promoted through the final-WAL check, on the old primary's own word.
	if log := s.Run("debug-log"); !strings.Contains(log, "promotion: replaying "+primary+"'s WAL up to its final position") {
		t.Errorf("%s promoted without waiting for %s's final WAL", target, primary)
	}
	if out := psql(s, target, "SELECT count(*) || ' ' || max(id) FROM acked"); out != "202 202" {
		t.Fatalf("the new primary holds %q rows (count max), want every acknowledged row: 202 202", out)
	}
	psql(s, target, "INSERT INTO acked VALUES (203)")
	eventually(t, 60*time.Second, "the old primary to follow the new one", func() bool {
		out, err := psqlE(s, primary, "SELECT count(*) FROM acked")
		return err == nil && out == "203"
	})
}
