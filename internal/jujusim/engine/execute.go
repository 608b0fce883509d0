package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// execute runs the hook in the unit's machine; stdout and stderr go to files so that
// daemons the hook leaves running never hold the hook open.
func (e *Engine) execute(ctx context.Context, j *job) (int, string, string, time.Duration, error) {
	start := time.Now()
	if j.handler == "" {
		return 0, "", "", 0, nil
	}
	mach, err := e.loadMachine(&j.mc)
	if err != nil {
		return -1, "", "", 0, fmt.Errorf("load machine %s: %w", j.mc.ID, err)
	}
	outPath := filepath.Join(e.Home, "run", j.ctxID+".out")
	errPath := filepath.Join(e.Home, "run", j.ctxID+".err")
	outF, err := os.Create(outPath)
	if err != nil {
		return -1, "", "", 0, err
	}
	errF, err := os.Create(errPath)
	if err != nil {
		outF.Close()
		return -1, "", "", 0, err
	}
	charmDir := AgentDir(j.unit) + "/charm"
	if HookTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, HookTimeout)
		defer cancel()
	}
	cmd := mach.Command(ctx, "/bin/sh", "-c", `cd "$0" && exec "$1"`, charmDir, j.handler)
	cmd.Env = j.env
	if HookTimeout > 0 {
		// A Go charm answers SIGQUIT with its goroutines' stacks on stderr, which lands in
		// the debug log; whatever still runs 10s later is killed.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
		cmd.WaitDelay = 10 * time.Second
	}
	cmd.Stdin = nil
	cmd.Stdout = outF
	cmd.Stderr = errF
	runErr := cmd.Run()
	outF.Close()
	errF.Close()
	dur := time.Since(start)
	stdout, _ := os.ReadFile(outPath)
	stderr, _ := os.ReadFile(errPath)
	os.Remove(outPath)
	os.Remove(errPath)
	code := 0
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			code = ee.ExitCode()
			if code < 0 {
				code = 1
			}
			runErr = nil
		} else {
			code = -1
		}
	}
	return code, string(stdout), string(stderr), dur, runErr
}

// finish commits or drops the hook's buffered writes and records the run.
func (e *Engine) finish(ctx context.Context, j *job, code int, stdout, stderr string, dur time.Duration, runErr error) error {
	var after []func()
	// A hook that failed because its machine went down under it (a reboot or poweroff from
	// inside, MachineExited) was interrupted, not failed.
	gone := j.action == nil && (code != 0 || runErr != nil) && e.machineGone(&j.mc)
	logPath := tools.CtxLogPath(e.Home, j.ctxID)
	jujuLog, _ := os.ReadFile(logPath)
	os.Remove(logPath)
	err := e.Store.Update(func(st *state.State) error {
		hc := st.Contexts[j.ctxID]
		delete(st.Contexts, j.ctxID)
		m := st.Models[j.model]
		if m == nil {
			return nil
		}
		u := m.Units[j.unit]
		if u == nil {
			return nil
		}
		u.Running = nil
		u.Finish(j.ev)
		if mc := m.Machines[u.Machine]; gone && mc != nil && mc.Reachable() {
			mc.Down = true
			markLost(mc, now())
		}
		if j.action == nil && (code != 0 || runErr != nil) && !m.Machines[u.Machine].Reachable() {
			// Killed by its machine's crash (faults.go): as Juju's uniter after a restart, the
			// hook runs again once the machine is back; its buffered writes are dropped.
			u.Queue = append([]state.Event{j.ev}, u.Queue...)
			return nil
		}
		u.Agent = state.Status{Current: "idle", Since: now()}
		if j.action != nil {
			a := m.Actions[j.ev.Action]
			if a == nil {
				return nil
			}
			a.Code, a.Stdout, a.Stderr, a.Completed = code, clip(stdout), clip(stderr), now()
			pruneActions(m)
			switch {
			case j.handler == "":
				a.Status, a.Message = "failed", "action not implemented on unit"
			case runErr != nil:
				a.Status, a.Message = "failed", runErr.Error()
			case code != 0 && a.Status != "failed":
				a.Status, a.Message = "failed", fmt.Sprintf("exit status %d", code)
			case a.Status != "failed":
				a.Status = "completed"
			}
			// Actions commit their buffered writes like hooks when they exit 0.
			if code == 0 && runErr == nil && hc != nil {
				after = append(after, e.commit(st, m, u, hc)...)
			}
			return nil
		}
		if code != 0 || runErr != nil {
			// Back to the head of the queue: the same hook runs again on resolve.
			u.Queue = append([]state.Event{j.ev}, u.Queue...)
			ev := j.ev
			u.Failed = &ev
			before := u.Workload
			u.Before = &before
			u.Workload = state.Status{Current: "error", Message: fmt.Sprintf("hook failed: %q", j.hook), Since: now()}
			u.Agent = state.Status{Current: "idle", Since: now()}
			if m.Config["automatically-retry-hooks"] != "false" {
				u.RetryAt = now().Add(retryDelay(u.Retries))
			}
			return nil
		}
		u.Retries, u.RetryAt = 0, time.Time{}
		if hc != nil {
			after = append(after, e.commit(st, m, u, hc)...)
		}
		after = append(after, e.transition(st, m, u, j.ev)...)
		return nil
	})
	if j.release != nil {
		j.release()
	}
	e.logRun(j, code, stdout, stderr, string(jujuLog), dur, runErr)
	for _, f := range after {
		f()
	}
	return err
}

// machineGone tells whether a system machine's PID 1 no longer runs.
func (e *Engine) machineGone(mc *state.Machine) bool {
	mach, err := e.loadMachine(mc)
	if err != nil {
		return false
	}
	r, ok := mach.(interface{ IsRunning() bool })
	return ok && !r.IsRunning()
}

func (e *Engine) logRun(j *job, code int, stdout, stderr, jujuLog string, dur time.Duration, runErr error) {
	t := time.Now()
	mod := "juju.worker.uniter.operation"
	var lines []string
	what := fmt.Sprintf("%q hook", j.hook)
	if j.action != nil {
		what = fmt.Sprintf("action %q (id %s)", j.hook, j.action.ID)
	}
	var env []string
	for _, kv := range j.env {
		k, v, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "JUJU_RELATION") || strings.HasPrefix(k, "JUJU_REMOTE") || strings.HasPrefix(k, "JUJU_DEPARTING") ||
			strings.HasPrefix(k, "JUJU_STORAGE") || strings.HasPrefix(k, "JUJU_ACTION") || strings.HasPrefix(k, "JUJU_SECRET") ||
			k == "JUJU_DISPATCH_PATH") && v != "" {
			env = append(env, kv)
		}
	}
	for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if l != "" {
			lines = append(lines, hooklog.Line(j.modelName, j.unit, t, "DEBUG", "unit."+j.unit+"."+j.hook, l))
		}
	}
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if l != "" {
			lines = append(lines, hooklog.Line(j.modelName, j.unit, t, "WARNING", "unit."+j.unit+"."+j.hook, l))
		}
	}
	status := fmt.Sprintf("ran %s (%s) in %s, exit code %d", what, strings.Join(env, " "), dur.Round(time.Millisecond), code)
	level := "INFO"
	switch {
	case j.handler == "":
		status = fmt.Sprintf("skipped %s: no handler in the charm", what)
	case runErr != nil:
		status, level = fmt.Sprintf("%s failed to run: %v", what, runErr), "ERROR"
	case code != 0 && j.action == nil:
		level = "ERROR"
		status += fmt.Sprintf("; unit in error: hook failed: %q", j.hook)
	}
	if n := strings.Count(jujuLog, "\n"); n > 0 {
		status += fmt.Sprintf(", %d juju-log lines", n)
	}
	lines = append(lines, hooklog.Line(j.modelName, j.unit, t, level, mod, status))
	hooklog.Append(e.Home, j.model, lines...)
	e.progress("%s: %s", j.unit, status)
}

// maxOutput bounds the stdout/stderr kept with an action: every hook tool call reads the
// whole state, so it must stay small.
const maxOutput = 256 << 10

func clip(s string) string {
	if len(s) <= maxOutput {
		return s
	}
	return s[:maxOutput] + "\n[jujusim: output truncated]\n"
}

// keepActions is how many finished actions a model keeps.
const keepActions = 200

func pruneActions(m *state.Model) {
	if len(m.Actions) <= keepActions {
		return
	}
	var done []*state.Action
	for _, a := range m.Actions {
		if a.Status == "completed" || a.Status == "failed" {
			done = append(done, a)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].Completed.Before(done[j].Completed) })
	for _, a := range done[:min(len(done), len(m.Actions)-keepActions)] {
		delete(m.Actions, a.ID)
	}
}
