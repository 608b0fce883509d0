package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

func TestDecideFailover(t *testing.T) {
	const timeout = 10 * time.Second
	units := func(mod func(map[string]Unit)) map[string]Unit {
		m := map[string]Unit{
			"pg/0": {Name: "pg/0", Reported: true, HasData: true, SystemID: "7", Role: RolePrimary},
			"pg/1": {Name: "pg/1", Reported: true, HasData: true, SystemID: "7", Role: RoleStandby},
			"pg/2": {Name: "pg/2", Reported: true, HasData: true, SystemID: "7", Role: RoleStandby},
		}
		if mod != nil {
			mod(m)
		}
		return m
	}
	down := Probe{Down: 12 * time.Second, SyncNames: `ANY 1 ("pg/1", "pg/2")`, SeenPrimary: true, Timeline: 1, Flushed: 0x500}
	standby := func(flushed uint64) Probe {
		return Probe{Reachable: true, InRecovery: true, Timeline: 1, Flushed: wal.LSN(flushed)}
	}
	probes := func(mod func(map[string]Probe)) map[string]Probe {
		m := map[string]Probe{"pg/0": down, "pg/1": standby(0x400), "pg/2": standby(0x500)}
		if mod != nil {
			mod(m)
		}
		return m
	}
	base := FailoverFacts{Leader: "pg/1", Units: units(nil), Primary: "pg/0", Probes: probes(nil), Timeout: timeout}
	with := func(mod func(*FailoverFacts)) FailoverFacts {
		f := base
		f.Units, f.Probes = units(nil), probes(nil)
		mod(&f)
		return f
	}
	start := func(chosen string) FailoverDecision {
		return FailoverDecision{Action: FailoverStart, Failed: "pg/0", Chosen: chosen}
	}
	none := FailoverDecision{}
	wait := FailoverDecision{Action: FailoverWait}
	for _, tc := range []struct {
		name string
		f    FailoverFacts
		want FailoverDecision
		why  string // a substring of Why
	}{
		{"primary gone past the timeout: the most advanced synchronous standby", base, start("pg/2"), "promoting pg/2"},
		{"ties go to the leader", with(func(f *FailoverFacts) { f.Probes["pg/1"] = standby(0x500) }), start("pg/1"), ""},
		{"ties without the leader go to the lowest number", with(func(f *FailoverFacts) {
			f.Leader = "pg/3"
			f.Probes["pg/1"] = standby(0x500)
		}), start("pg/1"), ""},
		{"a later timeline wins over a longer WAL", with(func(f *FailoverFacts) {
			p := standby(0x100)
			p.Timeline = 2
			f.Probes["pg/1"] = p
		}), start("pg/1"), ""},
		{"a listed standby wins a tie over an unlisted one", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 ("pg/2")`
			f.Probes["pg/0"] = p
			f.Probes["pg/1"] = standby(0x500)
		}), start("pg/2"), ""},
		{"an unlisted standby ahead of the listed one is chosen (it holds all they hold)", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 ("pg/1")`
			f.Probes["pg/0"] = p
		}), start("pg/2"), ""},
		{"reachable primary: nothing", with(func(f *FailoverFacts) { f.Probes["pg/0"] = Probe{Reachable: true} }), none, ""},
		{"unreachable for less than the timeout: nothing", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.Down = 5 * time.Second
			f.Probes["pg/0"] = p
		}), none, "less than failover_timeout"},
		{"a paused primary (unreachable just under the timeout): nothing", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.Down = timeout - time.Millisecond
			f.Probes["pg/0"] = p
		}), none, "less than"},
		{"a standby still streams from it: nothing (cut off from the leader only)", with(func(f *FailoverFacts) {
			p := standby(0x500)
			p.Streaming = true
			f.Probes["pg/2"] = p
		}), none, "pg/2 still streams"},
		{"a slow standby changes nothing", with(func(f *FailoverFacts) {
			f.Probes["pg/0"] = Probe{Reachable: true}
			f.Probes["pg/2"] = standby(0x1)
		}), none, ""},
		{"a leader change with a healthy primary: nothing", with(func(f *FailoverFacts) {
			f.Leader = "pg/2"
			f.Probes["pg/0"] = Probe{Reachable: true, SeenPrimary: true}
		}), none, ""},
		{"no agent report yet: nothing", with(func(f *FailoverFacts) { f.Probes = nil }), none, "no observation"},
		{"no primary recorded: nothing", with(func(f *FailoverFacts) { f.Primary = "" }), none, ""},
		{"timeout unset: nothing", with(func(f *FailoverFacts) { f.Timeout = 0 }), none, ""},
		{"the primary left the relation: ChoosePrimary's business", with(func(f *FailoverFacts) { delete(f.Units, "pg/0") }), none, ""},
		{"the primary is already marked failed: nothing more", with(func(f *FailoverFacts) { f.Failed = "pg/0" }), none, ""},
		{"one failover at a time", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			f.Probes["pg/2"] = Probe{Reachable: true, InRecovery: true}
		}), wait, "waiting for pg/2 to promote"},
		{"in progress, the chosen one serves: done", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			f.Probes["pg/2"] = Probe{Reachable: true}
		}), FailoverDecision{Action: FailoverDone}, "pg/2 serves"},
		{"in progress, the chosen one reports primary: done", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			f.Probes["pg/2"] = standby(1)
			u := f.Units["pg/2"]
			u.Role = RolePrimary
			f.Units["pg/2"] = u
		}), FailoverDecision{Action: FailoverDone}, ""},
		{"the chosen one gone before it promoted: choose again when the quorum allows", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 2 ("pg/1", "pg/2")`
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: 11 * time.Second, InRecovery: true, Timeline: 1, Flushed: 0x500}
		}), start("pg/1"), "pg/2, chosen to replace pg/0, is unreachable before it promoted; Failover: pg/0 unreachable"},
		{"the chosen one gone before it promoted, ANY 1 of 2: wait, say why", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			f.Probes["pg/2"] = Probe{Down: 11 * time.Second, InRecovery: true, Timeline: 1, Flushed: 0x500}
		}), wait, "pg/2, chosen to replace it, is unreachable before it promoted (Failover from pg/0: 1 of its 2"},
		{"the chosen one unreachable for less than the timeout: wait for it", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 2 ("pg/1", "pg/2")`
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: 5 * time.Second, InRecovery: true}
		}), wait, "waiting for pg/2 to promote"},
		{"the chosen one was seen serving: no second choice", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 2 ("pg/1", "pg/2")`
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: time.Minute, SeenPrimary: true}
		}), wait, "waiting for pg/2 to promote"},
		{"the old primary is back while the chosen one is gone: wait", with(func(f *FailoverFacts) {
			f.Primary, f.Failed, f.InProgress = "pg/2", "pg/0", "pg/2"
			f.Probes["pg/0"] = Probe{Reachable: true, SeenPrimary: true}
			f.Probes["pg/2"] = Probe{Down: time.Minute, InRecovery: true}
		}), wait, "is unreachable before it promoted (pg/0 answers again)"},
		{"ANY 1 of 2: one answering is not enough", with(func(f *FailoverFacts) { f.Probes["pg/2"] = Probe{Down: time.Minute} }), wait, "1 of its 2 synchronous standbys answer, 2 needed"},
		{"ANY 2 of 2: one answering is enough", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 2 ("pg/1", "pg/2")`
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: time.Minute}
		}), start("pg/1"), ""},
		{"ANY 1 (*): every other unit counts as listed", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 (*)`
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: time.Minute}
		}), wait, "1 of its 2 synchronous standbys"},
		{"asynchronous primary: the best that answered, said", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = ""
			f.Probes["pg/0"] = p
			f.Probes["pg/2"] = Probe{Down: time.Minute}
		}), FailoverDecision{Action: FailoverStart, Failed: "pg/0", Chosen: "pg/1", MayLose: true}, "may be lost"},
		{"commit mode unknown: every standby must answer", with(func(f *FailoverFacts) {
			f.Probes["pg/0"] = Probe{Down: time.Minute}
			f.Probes["pg/2"] = Probe{Down: time.Minute}
		}), wait, "unknown and pg/2 does not answer"},
		{"commit mode unknown, all answer", with(func(f *FailoverFacts) { f.Probes["pg/0"] = Probe{Down: time.Minute} }), start("pg/2"), ""},
		{"never a dying unit", with(func(f *FailoverFacts) {
			u := f.Units["pg/2"]
			u.Dying = true
			f.Units["pg/2"] = u
			f.Probes["pg/1"] = standby(0x500)
		}), start("pg/1"), ""},
		{"a dying unit ahead of every other: wait, say why", with(func(f *FailoverFacts) {
			u := f.Units["pg/2"]
			u.Dying = true
			f.Units["pg/2"] = u
		}), wait, "pg/2 (flushed 0/500) is ahead of every standby that may serve (pg/1, flushed 0/400)"},
		{"never a storageless unit", with(func(f *FailoverFacts) {
			u := f.Units["pg/2"]
			u.Detached = true
			f.Units["pg/2"] = u
			f.Probes["pg/1"] = standby(0x500)
		}), start("pg/1"), ""},
		{"never a unit holding another database (nor does it count)", with(func(f *FailoverFacts) {
			u := f.Units["pg/2"]
			u.SystemID = "8"
			f.Units["pg/2"] = u
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 ("pg/1")`
			f.Probes["pg/0"] = p
		}), start("pg/1"), ""},
		{"never a unit without data", with(func(f *FailoverFacts) {
			u := f.Units["pg/2"]
			u.HasData = false
			f.Units["pg/2"] = u
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 ("pg/1")`
			f.Probes["pg/0"] = p
		}), start("pg/1"), ""},
		{"never a unit that answers as a primary", with(func(f *FailoverFacts) {
			f.Probes["pg/2"] = Probe{Reachable: true, Flushed: 0x900}
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 2 ("pg/1", "pg/2")`
			f.Probes["pg/0"] = p
		}), start("pg/1"), ""},
		{"no candidate at all", with(func(f *FailoverFacts) {
			delete(f.Units, "pg/1")
			delete(f.Units, "pg/2")
		}), wait, "0 of its 2"},
		{"asynchronous, no candidate", with(func(f *FailoverFacts) {
			p := f.Probes["pg/0"]
			p.SyncNames = ""
			f.Probes["pg/0"] = p
			delete(f.Units, "pg/1")
			delete(f.Units, "pg/2")
		}), wait, "no standby"},
		{"two units: the one standby is enough for ANY 1", with(func(f *FailoverFacts) {
			delete(f.Units, "pg/2")
			delete(f.Probes, "pg/2")
			p := f.Probes["pg/0"]
			p.SyncNames = `ANY 1 ("pg/1")`
			f.Probes["pg/0"] = p
		}), start("pg/1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideFailover(tc.f)
			why := got.Why
			got.Why = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecideFailover = %+v (%s), want %+v", got, why, tc.want)
			}
			if !strings.Contains(why, tc.why) {
				t.Errorf("why %q lacks %q", why, tc.why)
			}
		})
	}
}

func TestParseSyncNames(t *testing.T) {
	for _, tc := range []struct {
		in    string
		n     int
		names []string
	}{
		{"", 0, nil},
		{`ANY 1 ("pg/1", "pg/2")`, 1, []string{"pg/1", "pg/2"}},
		{`ANY 2 (a, "b,c", "d""e")`, 2, []string{"a", "b,c", `d"e`}},
		{`FIRST 1 (x)`, 1, []string{"x"}},
		{`2 (x, y)`, 2, []string{"x", "y"}},
		{`x, y`, 1, []string{"x", "y"}},
		{`ANY 1 (*)`, 1, []string{"*"}},
		{`*`, 1, []string{"*"}},
		{`ANY 0 (x)`, 0, nil},
		{`ANY q (x)`, 0, nil},
	} {
		n, names := ParseSyncNames(tc.in)
		if n != tc.n || !reflect.DeepEqual(names, tc.names) {
			t.Errorf("ParseSyncNames(%q) = %d %q, want %d %q", tc.in, n, names, tc.n, tc.names)
		}
	}
}

func TestFailedPrimaryCleared(t *testing.T) {
	units := map[string]Unit{"pg/0": {Name: "pg/0", Role: RolePrimary}, "pg/1": {Name: "pg/1", Role: RolePrimary}}
	if FailedPrimaryCleared("pg/0", "pg/1", units, map[string]string{}) {
		t.Error("a failed primary still reporting primary was cleared")
	}
	units["pg/0"] = Unit{Name: "pg/0", Role: RoleStandby}
	if FailedPrimaryCleared("pg/0", "pg/1", units, map[string]string{"pg/0": "pg/2"}) {
		t.Error("cleared while following another unit")
	}
	if !FailedPrimaryCleared("pg/0", "pg/1", units, map[string]string{"pg/0": "pg/1"}) {
		t.Error("a failed primary following the new one kept its mark")
	}
	if !FailedPrimaryCleared("pg/9", "pg/1", units, nil) || !FailedPrimaryCleared("", "pg/1", units, nil) {
		t.Error("a departed unit kept its mark")
	}
}

// TestDecideFailoverFlow runs the leader's whole decision (Decide) through a failover of a
// crashed primary: the leader, a standby, promotes itself; its own writes decide nothing new;
// the crashed primary's stale "primary" report is no rival; the failover ends once the
// leader serves, and the mark goes once the old primary follows it.
func TestDecideFailoverFlow(t *testing.T) {
	o := settledStandby()
	o.Leader = true
	o.FailoverTimeout = 10 * time.Second
	o.Probes = map[string]Probe{
		unitA: {Down: 11 * time.Second, SeenPrimary: true, SyncNames: `ANY 1 ("` + unitB + `")`, Timeline: 1, Flushed: 900},
		unitB: {Reachable: true, InRecovery: true, Timeline: 1, Flushed: 900},
	}
	d := Decide(o)
	if d.App.Primary != unitB || d.App.Failed != unitA || d.App.Failover != unitB || d.Step != StepPromote {
		t.Fatalf("failover: app %+v, step %q (%s)", d.App, d.Step, d.Why.Local.Message)
	}
	o.AppBag = d.App
	if again := Decide(o); again.App != d.App || again.Step != StepPromote {
		t.Fatalf("deciding again on its own write: app %+v, step %q", again.App, again.Step)
	}
	// Promoted: the failover is done; the mark stays while the old primary says primary.
	o.Local.Standby = false
	o.Probes[unitB] = Probe{Reachable: true, Timeline: 2, Flushed: 950}
	d = Decide(o)
	if d.App.Failover != "" || d.App.Failed != unitA || d.Step != StepNone || !d.IsPrimary {
		t.Fatalf("after promotion: app %+v, step %q", d.App, d.Step)
	}
	// The old primary comes back as a standby of the new one: the mark goes.
	o.AppBag = d.App
	o.Peers[unitA] = map[string]string{KeyAddress: "10.0.0.1", KeyRole: "standby", KeyHasData: "true", KeySystemID: "7",
		KeyFollowing: unitB, KeyAdmits: unitB}
	o.Probes[unitA] = Probe{Reachable: true, InRecovery: true, Timeline: 2}
	if d = Decide(o); d.App.Failed != "" || d.App.Primary != unitB {
		t.Fatalf("old primary back: app %+v", d.App)
	}
	// Without a fresh agent report, nothing fails over.
	o = settledStandby()
	o.Leader, o.FailoverTimeout = true, 10*time.Second
	if d := Decide(o); d.App.Primary != unitA || d.App.Failed != "" {
		t.Fatalf("no probes: app %+v", d.App)
	}
}

// TestDecideIsolatedPrimary: a recorded primary whose agent reaches no majority neither
// starts its server (its agent fenced it; the leader may be failing it over) nor relaxes
// its quorum commit to asynchronous; with a majority it does both as before.
func TestDecideIsolatedPrimary(t *testing.T) {
	o := settledPrimary()
	o.Local.Running = false
	if d := Decide(o); d.Step != StepStart {
		t.Fatalf("stopped primary with a majority: step %q", d.Step)
	}
	o.Isolated = true
	d := Decide(o)
	if d.Step != StepWait || !strings.HasPrefix(d.Why.Local.Message, "Fenced:") || d.Status.Name != StatusWaiting {
		t.Fatalf("isolated stopped primary: step %q, status %+v", d.Step, d.Status)
	}
	// A standby that is isolated still follows as before (it serves no writes).
	sb := settledStandby()
	sb.Isolated, sb.Local.Running = true, false
	if d := Decide(sb); d.Step == StepWait && strings.HasPrefix(d.Why.Local.Message, "Fenced:") {
		t.Fatalf("an isolated standby is fenced: %+v", d.Why.Local)
	}
	// Running, no standby streaming: relaxed with a majority, strict without.
	o = settledPrimary()
	o.Quorum.Standbys = 1
	if d := Decide(o); d.Sync.Names != "" {
		t.Fatalf("relaxed: %+v", d.Sync)
	}
	o.Isolated = true
	if d := Decide(o); d.Sync.Names == "" || d.Sync.InForce != 1 {
		t.Fatalf("an isolated primary relaxed its quorum commit: %+v", d.Sync)
	}
}
