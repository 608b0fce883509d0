package plan

import (
	"strings"
	"testing"
)

// Juju runs hooks of different machines at the same time (worker/uniter/operation/
// executor.go takes a per-machine lock only), so every decision here is made while
// another unit may be half-way through a hook: what it reported is a moment ago, and its
// server may be between two steps. These cases pin the decisions that must stay safe.

// threeUnits is the leader postgresql/1, a standby of postgresql/0; postgresql/2 is
// another standby of it.
func threeUnits() Observed {
	o := settledStandby()
	o.Leader = true
	o.Peers[unitC] = map[string]string{KeyAddress: "10.0.0.3", KeyRole: "standby", KeyHasData: "true", KeySystemID: "7",
		KeyTimeline: "1", KeyFollowing: unitA, KeyAdmits: unitA + " " + unitB}
	return o
}

// A standby promotes (a switchover the leader decided before) while the leader measures
// for a failover: the measurement, not its report, says what it is, and a promoted unit
// is on a later timeline than anything the others have, so it wins over a standby that
// received more of the old timeline.
func TestPromotionDuringMeasurement(t *testing.T) {
	o := threeUnits()
	delete(o.Peers, unitA) // the old primary is gone
	o.Local.Timeline, o.Local.LSN = 1, 800
	o.Measured = map[string]Unit{unitC: {Role: RolePrimary, Timeline: 2, LSN: 100}}
	d := Decide(o)
	if d.App.Primary != unitC {
		t.Fatalf("primary %q, want %s, which promoted while measured", d.App.Primary, unitC)
	}
	if d.Step == StepPromote || d.IsPrimary {
		t.Errorf("the leader promotes itself beside the promoted unit: %+v", d)
	}
	// Were it measured before it promoted, the leader (ahead of it on timeline 1) is the
	// choice, and the unit that promoted on its own is the rival that must step down
	// before the leader promotes.
	o.Measured = map[string]Unit{unitC: {Role: RoleStandby, Timeline: 1, LSN: 700}}
	o.Peers[unitC][KeyRole] = "primary"
	d = Decide(o)
	if d.App.Primary != unitB || d.Step != StepWait || !strings.Contains(d.Status.Message, unitC+" to step down") {
		t.Errorf("a rival primary: %+v", d)
	}
}

// A unit stopped half-way through a rewind (its hook was stopped, or its machine rebooted)
// has a database that is neither the old primary's nor a standby's yet.
func TestStopDuringRewind(t *testing.T) {
	rewinding := map[string]string{KeyAddress: "10.0.0.3", KeyRole: "", KeyHasData: "true", KeySystemID: "7",
		KeyTimeline: "1", KeyLSN: "0/5000000"}
	// The leader never chooses it from what it reported: it waits to measure it, and its
	// server does not answer while it is stopped.
	o := threeUnits()
	delete(o.Peers, unitA)
	o.Peers[unitC] = rewinding
	o.Local.LSN = 10
	if got := MeasureWanted(o); len(got) != 1 || got[0] != unitC {
		t.Fatalf("measures %v, want %s", got, unitC)
	}
	d := Decide(o)
	if d.App.Primary != unitA || d.Step == StepPromote {
		t.Errorf("failover chose %q from a stale report", d.App.Primary)
	}
	// Its own next hook: never start it as it is (that would serve writes the primary
	// lacks), but rewind again once the primary is there, and wait while it is not.
	self := Local{Self: unitC, Version: "16", FullVersion: "16.4", DataVersion: "16", HasData: true, SystemID: "7",
		Timeline: 1, LSN: 0x5000000}
	ready := Target{Name: unitA, Address: "10.0.0.1", Ready: true, SystemID: "7", Timeline: 1}
	if dec := DecideLocal(self, unitA, ready, ""); dec.Step != StepRewind {
		t.Errorf("stopped mid-rewind, primary ready: %+v", dec)
	}
	if dec := DecideLocal(self, unitA, Target{Name: unitA}, ""); dec.Step != StepWait {
		t.Errorf("stopped mid-rewind, primary not ready: %+v", dec)
	}
	// Configured as a standby already (the rewind finished, the follow did not).
	self.Standby = true
	if dec := DecideLocal(self, unitA, ready, ""); dec.Step != StepFollow {
		t.Errorf("rewound, not yet following: %+v", dec)
	}
}

// The primary restarts (it holds the restart lock) while a standby clones from it: the
// clone fails, pg_basebackup removes what it copied, and the hook fails for Juju to retry.
// The retry decides from an empty data directory again: it clones once the primary is
// back, waits while it is not, and never makes a database of its own.
func TestRestartDuringClone(t *testing.T) {
	empty := Local{Self: unitC, Version: "16", FullVersion: "16.4"}
	restarting := Target{Name: unitA, Address: "10.0.0.1"} // reports no role while it restarts
	if dec := DecideLocal(empty, unitA, restarting, ""); dec.Step != StepWait {
		t.Errorf("primary restarting: %+v", dec)
	}
	back := Target{Name: unitA, Address: "10.0.0.1", Ready: true, SystemID: "7", Timeline: 1}
	if dec := DecideLocal(empty, unitA, back, ""); dec.Step != StepClone {
		t.Errorf("primary back: %+v", dec)
	}
	// Chosen primary meanwhile (the leader moved it there): an empty database would fork
	// the application; it blocks.
	empty.AppSystemID = "7"
	if dec := DecideLocal(empty, unitC, Target{Name: unitC}, ""); dec.Step != StepBlock {
		t.Errorf("chosen primary without the database: %+v", dec)
	}
	// A standby holding the lock keeps it until it stops asking; the primary's request
	// waits, and standbys go first.
	requests := map[string]bool{unitA: true, unitB: true, unitC: true}
	present := map[string]bool{unitA: true, unitB: true, unitC: true}
	if got := GrantRestart(unitC, requests, present, unitA); got != unitC {
		t.Errorf("lock taken from its holder by %s", got)
	}
	requests[unitC] = false
	if got := GrantRestart(unitC, requests, present, unitA); got != unitB {
		t.Errorf("lock released to %s, want the standby %s before the primary", got, unitB)
	}
}

// Deciding is a function of what was observed: any interleaving of another unit's writes
// leads each decision to where the last write leads, and deciding twice on the same facts
// (a hook retried, the leader's relation-changed for its own write) writes the same.
func TestDecideIsRepeatable(t *testing.T) {
	for name, o := range map[string]Observed{"primary": settledPrimary(), "standby": settledStandby(), "three": threeUnits()} {
		a, b := Decide(o), Decide(o)
		if a.App != b.App || a.Step != b.Step || a.Status != b.Status || a.Sync != b.Sync {
			t.Errorf("%s: two decisions on the same facts differ:\n%+v\n%+v", name, a, b)
		}
	}
}

func TestDecideQuorum(t *testing.T) {
	o := settledPrimary()
	o.Quorum = SyncOptions{Standbys: 1}
	o.Peers[unitC] = map[string]string{KeyAddress: "10.0.0.3", KeyRole: "standby", KeyHasData: "true"}
	o.Streaming = []string{unitB, "someone-else"}
	d := Decide(o)
	if want := (SyncPlan{Names: `ANY 1 ("postgresql/1")`, Commit: "on", InForce: 1}); d.Sync != want {
		t.Errorf("primary with one streaming standby: %+v, want %+v", d.Sync, want)
	}
	o.Streaming = nil
	d = Decide(o)
	if d.Sync.Names != "" || d.Status.Message != "Live master (16.4); asynchronous: no standby streaming" {
		t.Errorf("primary without standbys: %+v %+v", d.Sync, d.Status)
	}
	// A primary that is no longer the chosen one releases only what a standby of its own
	// acknowledged.
	o.AppBag.Primary = unitB
	o.Streaming = []string{unitB}
	d = Decide(o)
	if d.Sync != (SyncPlan{Names: "ANY 1 (*)", Commit: "on"}) || d.Step != StepStop {
		t.Errorf("a primary stepping down: %+v %s", d.Sync, d.Step)
	}
	s := settledStandby()
	s.Quorum = SyncOptions{Standbys: 2}
	if d := Decide(s); d.Sync != (SyncPlan{Commit: "on"}) {
		t.Errorf("standby: %+v", d.Sync)
	}
}

// A clone killed half-way (its hook's machine rebooted, the hook was killed) leaves
// PG_VERSION without global/pg_control, since pg_basebackup sends the control file last.
// That copy is never a database: the unit reports none, clones again (moving the copy
// aside), and never starts, creates over it or serves it as the chosen primary.
func TestCloneKilledHalfway(t *testing.T) {
	partial := Local{Self: unitC, Version: "16", FullVersion: "16.4", DataVersion: "16", Partial: true}
	ready := Target{Name: unitA, Address: "10.0.0.1", Ready: true, SystemID: "7", Timeline: 1}
	if dec := DecideLocal(partial, unitA, ready, ""); dec.Step != StepClone {
		t.Errorf("standby with a partial copy: %+v", dec)
	}
	if dec := DecideLocal(partial, unitA, Target{Name: unitA}, ""); dec.Step != StepWait {
		t.Errorf("partial copy, primary not ready: %+v", dec)
	}
	for _, sys := range []string{"", "7"} {
		p := partial
		p.AppSystemID = sys
		if dec := DecideLocal(p, unitC, Target{Name: unitC}, ""); dec.Step != StepBlock {
			t.Errorf("chosen primary with a partial copy (application database %q): %+v", sys, dec)
		}
	}
	if IsPrimary(Local{Self: unitC, Partial: true, Running: true}, unitC) {
		t.Errorf("a partial copy counts as the primary")
	}
	// The leader sees it report no database: it is not chosen over a unit that has one,
	// and a primary whose data turned out partial is replaced.
	o := threeUnits()
	o.Peers[unitC] = map[string]string{KeyAddress: "10.0.0.3", KeyHasData: "false"}
	o.AppBag.Primary = unitC
	o.Measured = map[string]Unit{unitA: {Role: RolePrimary, Timeline: 1, LSN: 900}}
	if d := Decide(o); d.App.Primary == unitC {
		t.Errorf("the leader keeps a primary that reports no database")
	}
}
