package archive

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestPlanTargets plans every kind of recovery target against one synthetic archive: two
// backups on timeline 1 and WAL segments 2 to 6 (so the WAL ends at 0/7000000).
func TestPlanTargets(t *testing.T) {
	ctx := context.Background()
	b1 := bk("base_000000010000000000000002", 0x2000028, 0x2000100, t0)
	b2 := bk("base_000000010000000000000004", 0x4000028, 0x4000100, t0.Add(time.Hour))
	a := synthetic(t, []Backup{b1, b2}, walKeys("000000010000000000000002", "000000010000000000000003",
		"000000010000000000000004", "000000010000000000000005", "000000010000000000000006"), nil)
	a.putJSON(ctx, RestorePointFolder+"before-upgrade.json", RestorePoint{Name: "before-upgrade", LSN: 0x4800000, Timeline: 1, Time: t0.Add(2 * time.Hour)})
	a.putJSON(ctx, RestorePointFolder+"too-late.json", RestorePoint{Name: "too-late", LSN: 0x9000000, Timeline: 1})
	a.putJSON(ctx, RestorePointFolder+"other-branch.json", RestorePoint{Name: "other-branch", LSN: 0x5000000, Timeline: 3})
	yes := true
	good := []struct {
		req    RestoreRequest
		backup string
		check  func(RecoverySettings) bool
	}{
		{RestoreRequest{TargetLSN: "0/3000000"}, b1.Name, func(s RecoverySettings) bool {
			return s.RecoveryTargetLSN == "0/3000000" && s.RecoveryTargetAction == "promote"
		}},
		{RestoreRequest{TargetLSN: "0/5000000", TargetInclusive: &yes}, b2.Name, func(s RecoverySettings) bool {
			return s.RecoveryTargetLSN == "0/5000000" && s.RecoveryTargetInclusive == "true"
		}},
		{RestoreRequest{TargetXID: "1234", Action: "pause"}, b1.Name, func(s RecoverySettings) bool {
			return s.RecoveryTargetXID == "1234" && s.RecoveryTargetAction == "pause"
		}},
		{RestoreRequest{TargetImmediate: true}, b2.Name, func(s RecoverySettings) bool { return s.RecoveryTarget == "immediate" }},
		{RestoreRequest{TargetName: "before-upgrade"}, b2.Name, func(s RecoverySettings) bool { return s.RecoveryTargetName == "before-upgrade" }},
		{RestoreRequest{TargetTime: t0.Add(30 * time.Minute)}, b1.Name, func(s RecoverySettings) bool { return s.RecoveryTargetTime != "" }},
		{RestoreRequest{}, b2.Name, func(s RecoverySettings) bool { return s.RecoveryTargetAction == "" && s.RecoveryTarget == "" }},
	}
	for _, g := range good {
		g.req.Binary = "/bin/charm"
		plan, err := a.PlanRestore(ctx, g.req)
		if err != nil {
			t.Errorf("%+v: %v", g.req, err)
			continue
		}
		if plan.Backup.Name != g.backup || !g.check(plan.Settings) {
			t.Errorf("%+v: backup %s, settings %+v; want %s", g.req, plan.Backup.Name, plan.Settings, g.backup)
		}
		if !strings.Contains(plan.Settings.Conf(), "restore_command") {
			t.Errorf("conf without restore_command: %s", plan.Settings.Conf())
		}
	}
	bad := []struct {
		req  RestoreRequest
		want string
	}{
		{RestoreRequest{TargetLSN: "0/1000000"}, "before the oldest backup"},
		{RestoreRequest{TargetLSN: "0/9000000"}, "beyond the newest archived WAL"},
		{RestoreRequest{TargetLSN: "nowhere"}, "want X/Y"},
		{RestoreRequest{TargetXID: "abc"}, "transaction ID"},
		{RestoreRequest{TargetXID: "2"}, "transaction ID"},
		{RestoreRequest{TargetName: "never-made"}, "no restore point"},
		{RestoreRequest{TargetName: "too-late"}, "beyond the newest archived WAL"},
		{RestoreRequest{TargetName: "other-branch"}, "not on timeline 1"},
		{RestoreRequest{TargetName: "bad name; DROP"}, "restore point name"},
		{RestoreRequest{TargetTime: time.Now().Add(time.Hour)}, "after the newest archived WAL"},
		{RestoreRequest{TargetTime: t0.Add(-time.Hour)}, "no backup to restore finished before"},
		{RestoreRequest{TargetLSN: "0/3000000", TargetXID: "1234"}, "at most one recovery target"},
		{RestoreRequest{TargetImmediate: true, TargetTime: t0}, "at most one recovery target"},
		{RestoreRequest{TargetName: "before-upgrade", TargetInclusive: &yes}, "target-inclusive applies"},
		{RestoreRequest{Standby: true, TargetLSN: "0/3000000"}, "standby"},
		{RestoreRequest{TargetTimeline: "7"}, "timeline 7 is unknown"},
		{RestoreRequest{TargetLSN: "0/3000000", Action: "explode"}, "promote, pause or shutdown"},
	}
	for _, b := range bad {
		b.req.Binary = "/bin/charm"
		_, err := a.PlanRestore(ctx, b.req)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: %v; want an error saying %q", b.req, err, b.want)
		}
	}
	if err := CheckRestorePointName("nightly-2026-12-04T01:00"); err != nil {
		t.Error(err)
	}
}
