package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestPeerAppDataOnLeader: a leader's write to its peer application bag runs
// relation-changed (JUJU_REMOTE_UNIT empty) on every unit, the leader included
// (state/relationunit.go counterpartApplicationSettingsKeys: a peer relation's counterpart
// application is the unit's own; juju#20178). A leader that writes a new value in every hook
// never settles, and the error names the loop.
func TestPeerAppDataOnLeader(t *testing.T) {
	s := simtest.New(t)
	s.Serial = true // exact hook sequences across units
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2")
	n0, n1 := len(records(t, s, "", "rec/0")), len(records(t, s, "", "rec/1"))
	s.Run("config", "rec", "peer-app=one")
	for u, n := range map[string]int{"rec/0": n0, "rec/1": n1} {
		recs := records(t, s, "", u)[n:]
		wantSeq(t, u, hooks(recs), []string{"config-changed", "peers-relation-changed"})
		if c := recs[len(recs)-1]; c.Env["JUJU_REMOTE_UNIT"] != "" || c.Env["JUJU_REMOTE_APP"] != "rec" {
			t.Errorf("%s: app-level relation-changed env %v", u, c.Env)
		}
	}

	t.Setenv("JUJUSIM_MAX_HOOKS", "40")
	_, errOut, err := s.RunE("config", "rec", "peer-app=counter")
	if err == nil || !strings.Contains(errOut, "hooks did not settle after 40 runs: a charm keeps triggering itself (rec/0 peers-relation-changed") {
		t.Errorf("a leader that never settles: err %v\n%s", err, errOut)
	}
}

// TestScopeAfterInstall: a unit enters its relations once installed, after relation-created
// (worker/uniter/relation/statetracker.go joinRelation), not after start: the others may
// see it join before its config-changed and start.
func TestScopeAfterInstall(t *testing.T) {
	s := simtest.New(t)
	s.Serial = true // exact hook sequences across units
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec")
	s.Run("add-unit", "rec")
	var order []string
	for _, l := range strings.Split(s.Run("debug-log"), "\n") {
		switch {
		case strings.HasPrefix(l, "unit-rec-0:") && strings.Contains(l, `ran "peers-relation-joined"`):
			order = append(order, "rec/0 joined")
		case strings.HasPrefix(l, "unit-rec-1:") && strings.Contains(l, `ran "start"`):
			order = append(order, "rec/1 start")
		}
	}
	if strings.Join(order, ", ") != "rec/0 joined, rec/1 start" {
		t.Errorf("rec/0 should see rec/1 join before rec/1 starts: %v", order)
	}
}

// TestUpdateStatusInterval: update-status runs on every started unit every
// update-status-hook-interval (model config, Juju's default 5m), interleaved with the
// other hooks: worker/uniter/remotestate/watcher.go keeps an update-status timer per unit,
// reset after each firing, whose interval follows the model's update-status-hook-interval.
func TestUpdateStatusInterval(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	if got := strings.TrimSpace(s.Run("model-config", "update-status-hook-interval")); got != "5m" {
		t.Errorf("default interval %q", got)
	}
	s.Run("deploy", ch, "rec", "-n", "2")
	s.Run("model-config", "update-status-hook-interval=1s")
	time.Sleep(1100 * time.Millisecond)
	s.Run("wait")
	for _, u := range []string{"rec/0", "rec/1"} {
		if n := strings.Count(strings.Join(hooks(records(t, s, "", u)), " "), "update-status"); n != 1 {
			t.Errorf("%s: %d update-status after one interval", u, n)
		}
	}
	s.Run("wait") // within the interval: none
	if n := strings.Count(strings.Join(hooks(records(t, s, "", "rec/0")), " "), "update-status"); n != 1 {
		t.Errorf("rec/0: %d update-status within the interval", n)
	}
}

// TestActionsInError: a unit in error still runs actions, between hooks
// (worker/uniter/actions/resolver.go), and stays in error.
func TestActionsInError(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("model-config", "automatically-retry-hooks=false")
	s.Run("deploy", ch, "rec", "--config", "fail-hook=update-status")
	s.Run("run-hook", "rec/0", "update-status")
	res := s.RunAction("rec/0", "echo", "msg=hi")
	if res.Status != "completed" || res.Results["echoed"] != "hi" {
		t.Errorf("action on a unit in error: %+v", res)
	}
	if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Workload.Current != "error" || u.Workload.Message != `hook failed: "update-status"` {
		t.Errorf("the unit should stay in error: %+v", u.Workload)
	}
}

// TestRelationIDsAndAppData: relation-ids omits a dying relation in every hook, not only in
// broken; a unit entering a relation whose remote application bag holds data runs the
// application-level relation-changed before any join (worker/uniter/relation/resolver.go
// nextHookForRelation).
func TestRelationIDsAndAppData(t *testing.T) {
	s := simtest.New(t)
	s.Serial = true // exact hook sequences across units
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec")
	s.Run("deploy", ch, "cli")
	s.Run("integrate", "rec:db", "cli:backend") // rec's leader writes its app bag when cli/0 joins
	s.Run("add-unit", "cli")
	recs := records(t, s, "", "cli/1")
	hs := hooks(recs)
	i := indexOf(hs, "backend-relation-changed")
	if i < 0 || i > indexOf(hs, "backend-relation-joined(rec/0)") {
		t.Errorf("cli/1: the app-level change should come before the join: %v", hs)
	} else if c := recs[i]; c.Env["JUJU_REMOTE_UNIT"] != "" || c.RemoteBag["leader"] != "rec/0" {
		t.Errorf("cli/1 app-level change: %v %v", c.Env, c.RemoteBag)
	}

	s.Run("remove-relation", "rec:db", "cli:backend")
	for _, r := range records(t, s, "", "cli/0") {
		if (r.Hook == "backend-relation-departed" || r.Hook == "backend-relation-broken") && len(r.RelIDs) != 0 {
			t.Errorf("cli/0 %s: relation-ids lists the dying relation: %v", r.Hook, r.RelIDs)
		}
	}
}

// TestHookEnvironment: hooks get Juju's environment only (no HOME or USER;
// worker/uniter/runner/context/env.go), and show-action-output looks ids up in the current
// model (Juju 3's show-task, cmd/juju/action/showtask.go, is a model command: task ids are
// the current model's).
func TestHookEnvironment(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec")
	for _, r := range records(t, s, "", "rec/0") {
		if _, ok := r.Env["HOME"]; ok {
			t.Errorf("%s: HOME=%q in the hook environment", r.Hook, r.Env["HOME"])
		}
		if _, ok := r.Env["USER"]; ok {
			t.Errorf("%s: USER=%q in the hook environment", r.Hook, r.Env["USER"])
		}
	}
	first := s.RunAction("rec/0", "echo", "msg=default")
	s.Run("add-model", "other")
	s.Run("deploy", ch, "rec")
	second := s.RunAction("rec/0", "echo", "msg=other")
	if first.ID != second.ID {
		t.Skipf("action ids differ (%s, %s): nothing to disambiguate", first.ID, second.ID)
	}
	if out := s.Run("show-action-output", second.ID); !strings.Contains(out, "echoing other") {
		t.Errorf("show-action-output %s in model other:\n%s", second.ID, out)
	}
	if out := s.Run("show-action-output", "-m", "default", first.ID); !strings.Contains(out, "echoing default") {
		t.Errorf("show-action-output -m default %s:\n%s", first.ID, out)
	}
}

// TestConcurrentMachines: as Juju's machine agents do, jujusim runs the hooks of units on
// different machines at the same time (each unit one hook at a time); --serial runs one
// hook at a time in the whole home. In Juju each uniter runs its operations one at a time and
// takes only its own machine's lock for a hook (worker/uniter/operation/executor.go,
// acquireMachineLock when NeedsGlobalMachineLock), so units on different machines never wait
// for each other.
func TestConcurrentMachines(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "3", "--config", "slow-hook=update-status")
	overlaps := func() int {
		var spans [][2]int64
		for _, u := range []string{"rec/0", "rec/1", "rec/2"} {
			var own [][2]int64
			for _, r := range records(t, s, "", u) {
				own = append(own, [2]int64{r.Start, r.End})
			}
			for i := 1; i < len(own); i++ {
				if own[i][0] < own[i-1][1] {
					t.Errorf("%s ran two hooks at once: %v", u, own[i-1:i+1])
				}
			}
			recs := records(t, s, "", u)
			last := recs[len(recs)-1]
			spans = append(spans, [2]int64{last.Start, last.End})
		}
		n := 0
		for i := range spans {
			for j := i + 1; j < len(spans); j++ {
				if spans[i][0] < spans[j][1] && spans[j][0] < spans[i][1] {
					n++
				}
			}
		}
		return n
	}
	s.Run("wait", "--update-status")
	if n := overlaps(); n == 0 {
		t.Errorf("update-status of three machines never overlapped")
	}
	s.Serial = true
	s.Run("wait", "--update-status")
	if n := overlaps(); n != 0 {
		t.Errorf("--serial: %d overlapping hooks", n)
	}
}
