package plan

import (
	"testing"

	"github.com/pgcharm/postgresql/internal/wal"
)

func TestDecideLocal(t *testing.T) {
	const me, p = "postgresql/1", "postgresql/0"
	base := Local{Self: me, Version: "15", FullVersion: "15.18"}
	withData := base
	withData.HasData, withData.DataVersion, withData.SystemID, withData.Timeline = true, "15", "7", 1
	running := withData
	running.Running = true
	standby := running
	standby.Standby, standby.Following = true, p
	stoppedStandby := standby
	stoppedStandby.Running = false
	ready := Target{Name: p, Address: "10.1.0.2", Ready: true, SystemID: "7", Timeline: 1}
	ahead := ready
	ahead.Timeline, ahead.History = 2, []wal.HistoryEntry{{TLI: 1, SwitchLSN: 1000}}

	cases := []struct {
		name    string
		l       Local
		primary string
		t       Target
		rival   string
		step    Step
		status  Status
	}{
		{"no primary chosen yet", base, "", Target{}, "", StepWait, Status{"waiting", "Waiting for the leader to choose a primary"}},
		{"data of another major version blocks", func() Local { l := withData; l.DataVersion = "14"; return l }(), me, Target{}, "",
			StepBlock, Status{"blocked", "pgdata holds a PostgreSQL 14 database; this unit runs 15. Attach it to a unit with version=14"}},
		{"primary without data creates", base, me, Target{}, "", StepCreate, Status{"maintenance", "Creating the database"}},
		{"primary with adopted data starts it", withData, me, Target{}, "", StepStart, Status{"maintenance", "Starting PostgreSQL"}},
		{"primary running", running, me, Target{}, "", StepNone, Status{"active", "Live master (15.18)"}},
		{"chosen standby promotes", standby, me, Target{}, "", StepPromote, Status{"maintenance", "Promoting to primary"}},
		{"chosen standby stopped starts first", stoppedStandby, me, Target{}, "", StepStart, Status{"maintenance", "Starting PostgreSQL"}},
		{"chosen standby waits for the old primary to step down", standby, me, Target{}, p,
			StepWait, Status{"waiting", "Waiting for " + p + " to step down before promotion"}},
		{"a running primary that is not chosen stops first", running, p, ready, "", StepStop,
			Status{"maintenance", "Stepping down: " + p + " is to be primary"}},
		{"a running primary stops even before the new one is ready", running, p, Target{Name: p}, "", StepStop,
			Status{"maintenance", "Stepping down: " + p + " is to be primary"}},
		{"standby waits for the primary", base, p, Target{Name: p}, "", StepWait, Status{"waiting", "Waiting for primary " + p}},
		{"empty unit clones", base, p, ready, "", StepClone, Status{"maintenance", "Cloning from " + p}},
		{"foreign database blocks, never cloned over", func() Local { l := withData; l.SystemID = "9"; return l }(), p, ready, "",
			StepBlock, Status{"blocked", "pgdata holds another database (system id 9; primary " + p + " has 7): detach it or remove this unit"}},
		{"stopped former primary rewinds", withData, p, ready, "", StepRewind, Status{"maintenance", "Rewinding to follow " + p}},
		{"standby past the fork rewinds", func() Local { l := standby; l.LSN = 2000; return l }(), p, ahead, "",
			StepRewind, Status{"maintenance", "Rewinding to follow " + p}},
		{"standby before the fork follows the new timeline", func() Local { l := standby; l.LSN = 900; l.Following = "postgresql/2"; return l }(), p, ahead, "",
			StepFollow, Status{"maintenance", "Following " + p}},
		{"stopped standby on an older timeline rewinds: its end of WAL is not known", func() Local { l := stoppedStandby; l.LSN = 900; return l }(), p, ahead, "",
			StepRewind, Status{"maintenance", "Rewinding to follow " + p}},
		{"standby on a timeline the primary's history does not name rewinds", func() Local { l := standby; l.LSN = 900; return l }(), p,
			func() Target { t := ahead; t.History = nil; return t }(), "", StepRewind, Status{"maintenance", "Rewinding to follow " + p}},
		{"standby on a newer timeline than the primary's rewinds", func() Local { l := standby; l.Timeline = 3; return l }(), p, ahead, "",
			StepRewind, Status{"maintenance", "Rewinding to follow " + p}},
		{"stopped standby starts following", stoppedStandby, p, ready, "", StepFollow, Status{"maintenance", "Following " + p}},
		{"standby following", standby, p, ready, "", StepNone, Status{"active", "Live secondary (15.18)"}},
		{"standby keeps the old timeline after the primary's restore", standby, p, func() Target { t := ready; t.Restore = "r1"; return t }(), "",
			StepNone, Status{"active", "Live secondary (15.18) on the timeline before " + p + " was restored; run wal-e-restore here to follow it"}},
		{"restored standby follows the restored primary", func() Local { l := standby; l.Restore = "r1"; return l }(), p,
			func() Target { t := ready; t.Restore = "r1"; return t }(), "", StepNone, Status{"active", "Live secondary (15.18)"}},
		{"an empty unit clones a restored primary", base, p, func() Target { t := ready; t.Restore = "r1"; return t }(), "",
			StepClone, Status{"maintenance", "Cloning from " + p}},
		{"a chosen primary whose database vanished never creates an empty one", func() Local { l := base; l.AppSystemID = "7"; return l }(), me,
			Target{}, "", StepBlock, Status{"blocked", "Chosen primary, but pgdata holds no database: the application's database (system id 7) " +
				"is not here; attach the volume that holds it (juju attach-storage) or restore it with wal-e-restore"}},
		{"an empty standby of an application with a database clones", func() Local { l := base; l.AppSystemID = "7"; return l }(), p, ready, "",
			StepClone, Status{"maintenance", "Cloning from " + p}},
		{"an interrupted restore blocks the primary, nothing started or created", func() Local { l := base; l.Interrupted = "restore interrupted"; return l }(), me,
			Target{}, "", StepBlock, Status{"blocked", "restore interrupted"}},
		{"an interrupted restore with data blocks, not started", func() Local { l := withData; l.Interrupted = "restore interrupted"; return l }(), me,
			Target{}, "", StepBlock, Status{"blocked", "restore interrupted"}},
		{"an interrupted restore on a standby blocks, never cloned over", func() Local { l := base; l.Interrupted = "restore interrupted"; return l }(), p,
			ready, "", StepBlock, Status{"blocked", "restore interrupted"}},
	}
	for _, tc := range cases {
		got := DecideLocal(tc.l, tc.primary, tc.t, tc.rival)
		if got.Step != tc.step || got.Status != tc.status {
			t.Errorf("%s: got %q %+v, want %q %+v", tc.name, got.Step, got.Status, tc.step, tc.status)
		}
	}
}

func TestIsPrimary(t *testing.T) {
	const me, p = "postgresql/1", "postgresql/0"
	serving := Local{Self: me, HasData: true, Running: true}
	cases := []struct {
		name   string
		l      Local
		chosen string
		want   bool
	}{
		{"chosen and serving", serving, me, true},
		{"serving but another is chosen", serving, p, false},
		{"serving, nobody chosen yet", serving, "", false},
		{"chosen but still a standby", func() Local { l := serving; l.Standby = true; return l }(), me, false},
		{"chosen but stopped", func() Local { l := serving; l.Running = false; return l }(), me, false},
		{"chosen without a database", Local{Self: me}, me, false},
	}
	for _, tc := range cases {
		if got := IsPrimary(tc.l, tc.chosen); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
