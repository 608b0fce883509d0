package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestHookFailure checks that a failing hook errors the unit, drops its buffered writes
// (relation data, state), stops its queue, and that resolve retries it.
func TestHookFailure(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("model-config", "automatically-retry-hooks=false") // Juju's default is true
	s.Run("deploy", ch, "rec")
	s.Run("deploy", ch, "cli", "--config", "fail-hook=backend-relation-joined")
	s.Run("integrate", "rec:db", "cli:backend")

	u := s.Status("").Applications["cli"].Units["cli/0"]
	if u.Workload.Current != "error" || u.Workload.Message != `hook failed: "backend-relation-joined"` {
		t.Fatalf("cli/0 status %+v", u)
	}
	if _, _, err := s.RunE("wait"); err == nil {
		t.Errorf("wait should fail while a unit is in error")
	}
	// The remote side never saw the failed hook's relation-set.
	for _, r := range records(t, s, "", "rec/0") {
		if r.Remote["doomed"] != "" || r.Remote["from"] != "" {
			t.Errorf("rec/0 saw data from a failed hook in %s: %v", r.Hook, r.Remote)
		}
	}
	// The queue is stopped: a config change waits behind the failed hook.
	s.Run("config", "cli", "fail-hook=")
	recs := records(t, s, "", "cli/0")
	if last := recs[len(recs)-1]; last.Hook != "backend-relation-joined" {
		t.Errorf("cli/0 ran %s while in error", last.Hook)
	}
	s.Run("resolve", "cli/0")
	recs = records(t, s, "", "cli/0")
	hs := hooks(recs)
	i := indexOf(hs, "backend-relation-joined(rec/0)")
	rest := hs[i+1:]
	if len(rest) < 2 || rest[0] != "backend-relation-joined(rec/0)" {
		t.Errorf("resolve should retry the failed hook first: %v", hs)
	}
	for _, r := range recs {
		if r.State != "" {
			t.Errorf("state-set of the failed hook leaked into %s: %q", r.Hook, r.State)
		}
	}
	u = s.Status("").Applications["cli"].Units["cli/0"]
	if u.Workload.Current != "active" {
		t.Errorf("after resolve: %+v", u)
	}
	var sawFrom bool
	for _, r := range records(t, s, "", "rec/0") {
		if r.Remote["doomed"] != "" {
			t.Errorf("doomed leaked: %v", r.Remote)
		}
		if r.Remote["from"] == "cli/0" {
			sawFrom = true
		}
	}
	if !sawFrom {
		t.Errorf("rec/0 should see cli/0's data after the retried hook")
	}
	s.Run("wait")

	// resolve --no-retry skips the failed hook.
	s.Run("config", "cli", "fail-hook=update-status")
	s.Run("run-hook", "cli/0", "update-status")
	if u := s.Status("").Applications["cli"].Units["cli/0"]; u.Workload.Message != `hook failed: "update-status"` {
		t.Fatalf("cli/0 after a failing update-status: %+v", u)
	}
	before := len(records(t, s, "", "cli/0"))
	s.Run("resolve", "cli/0", "--no-retry")
	if after := len(records(t, s, "", "cli/0")); after != before {
		t.Errorf("--no-retry must not run the hook again (%d records, was %d)", after, before)
	}
	if u := s.Status("").Applications["cli"].Units["cli/0"]; u.Workload.Current != "active" {
		t.Errorf("after resolve --no-retry: %+v", u)
	}
}

// TestActions checks parameters with defaults, nested results, logs, failures and
// schema validation; a failed action never errors the unit.
func TestActions(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec")
	res := s.RunAction("rec/0", "echo", "msg=yo")
	if res.Status != "completed" || res.Results["echoed"] != "yo" || res.Results["return-code"] != float64(0) {
		t.Errorf("echo: %+v", res)
	}
	if nested, _ := res.Results["nested"].(map[string]any); nested["key"] != "v" {
		t.Errorf("nested results: %+v", res.Results)
	}
	if len(res.Log) != 1 || !strings.HasSuffix(res.Log[0], "echoing yo") {
		t.Errorf("log: %v", res.Log)
	}
	res = s.RunAction("rec/0", "echo")
	if res.Results["echoed"] != "hi" {
		t.Errorf("default param: %+v", res)
	}
	res = s.RunAction("rec/0", "fail")
	if res.Status != "failed" || res.Message != "asked to fail" {
		t.Errorf("fail: %+v", res)
	}
	if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Workload.Current != "active" {
		t.Errorf("a failed action must not error the unit: %+v", u)
	}
	if _, stderr, err := s.RunE("run", "rec/0", "echo", "msg=5"); err == nil || !strings.Contains(stderr, "msg") {
		t.Errorf("an int for a string param should be refused: %v %s", err, stderr)
	}
	if _, stderr, err := s.RunE("run", "rec/0", "nope"); err == nil || !strings.Contains(stderr, `action "nope" not defined`) {
		t.Errorf("unknown action: %v %s", err, stderr)
	}
	recs := records(t, s, "", "rec/0")
	var act record
	for _, r := range recs {
		if r.Hook == "echo" {
			act = r
		}
	}
	if act.Env["JUJU_ACTION_NAME"] != "echo" || act.Env["JUJU_DISPATCH_PATH"] != "actions/echo" || act.Env["JUJU_HOOK_NAME"] != "" ||
		!regexp.MustCompile(`^\d+$`).MatchString(act.Env["JUJU_ACTION_UUID"]) || act.Env["JUJU_ACTION_TAG"] != "action-"+act.Env["JUJU_ACTION_UUID"] {
		t.Errorf("action env: %v", act.Env)
	}
	// 2.9 spelling.
	out := s.Run("run-action", "rec/0", "echo", "msg=old", "--wait")
	if !strings.Contains(out, "unit-rec-0:") || !strings.Contains(out, "echoed: old") || !strings.Contains(out, "status: completed") {
		t.Errorf("run-action --wait output:\n%s", out)
	}
}

// TestAutomaticRetry checks automatically-retry-hooks, true by default as in Juju: a failed
// hook is retried after 5s doubling up to 5 minutes, forever (here 100ms doubling; a command
// waits only for retries due within JUJUSIM_RETRY_WAIT). Juju's controller hands the uniter
// that strategy (apiserver/facades/agent/retrystrategy/retrystrategy.go: MinRetryTime 5s,
// MaxRetryTime 5m, RetryTimeFactor 2, ShouldRetry from the model's automatically-retry-hooks),
// and the uniter's retry-hook timer fires the retry (worker/uniter/remotestate/watcher.go).
func TestAutomaticRetry(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	if got := strings.TrimSpace(s.Run("model-config", "automatically-retry-hooks")); got != "true" {
		t.Errorf("automatically-retry-hooks default: %q", got)
	}
	t.Setenv("JUJUSIM_RETRY_DELAY", "100ms")
	t.Setenv("JUJUSIM_RETRY_WAIT", "1s")
	s.Run("deploy", ch, "rec", "--config", "fail-once=config-changed")
	if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Workload.Current != "active" {
		t.Errorf("the retried hook should have succeeded: %+v", u)
	}
	hs := hooks(records(t, s, "", "rec/0"))
	if n := strings.Count(strings.Join(hs, " "), "config-changed"); n != 2 {
		t.Errorf("config-changed should run twice (fail, retry): %v", hs)
	}
	if !strings.Contains(s.Run("debug-log"), `unit in error: hook failed: "config-changed"`) {
		t.Errorf("the failure should be logged")
	}

	// A hook that keeps failing is retried after 100, 200, 400 and 800ms; the next retry
	// (1.6s) is beyond the wait, so the command returns with the unit in error.
	s.Run("config", "rec", "fail-hook=update-status")
	n := len(records(t, s, "", "rec/0"))
	s.Run("run-hook", "rec/0", "update-status")
	hs = hooks(records(t, s, "", "rec/0")[n:])
	if strings.Join(hs, " ") != "update-status update-status update-status update-status update-status" {
		t.Errorf("update-status should run 5 times (fail, 4 retries): %v", hs)
	}
	if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Workload.Current != "error" {
		t.Errorf("the unit should still be in error: %+v", u)
	}
}

// TestConcurrentCommands runs several jujusim commands at once against one home: the state
// lock and the runner lock must keep every action's result intact.
func TestConcurrentCommands(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2")
	s.Verbose = false
	var wg sync.WaitGroup
	results := make([]simtest.ActionResult, 6)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			unit := fmt.Sprintf("rec/%d", i%2)
			results[i] = s.RunAction(unit, "echo", fmt.Sprintf("msg=m%d", i))
		}(i)
	}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Status("")
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range results {
		if r.Status != "completed" || r.Results["echoed"] != fmt.Sprintf("m%d", i) || ids[r.ID] {
			t.Errorf("action %d: %+v", i, r)
		}
		ids[r.ID] = true
	}
	s.Run("wait")
}
