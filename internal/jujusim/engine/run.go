package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// MaxHooks bounds one Settle so that charms which never stop writing relation data fail
// loudly instead of spinning forever.
var MaxHooks = 5000

// HookTimeout, when set (JUJUSIM_HOOK_TIMEOUT), kills a hook that runs longer: a safety net
// for CI. Juju itself has no hook timeout; a killed hook fails like any other.
var HookTimeout time.Duration

// job is a hook picked to run.
type job struct {
	model, modelName, unit, hook string
	ev                           state.Event
	ctxID                        string
	env                          []string
	mc                           state.Machine
	handler                      string // path inside the machine, "" if none
	action                       *state.Action
}

// Settle runs queued hooks, one at a time, until no unit has a runnable hook.
func (e *Engine) Settle(ctx context.Context) error {
	unlock, err := e.Store.Lock("runner")
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.ensureTools(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(e.Home, "run"), 0o700); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if n >= MaxHooks {
			return fmt.Errorf("hooks did not settle after %d runs (a charm keeps changing relation data?)", MaxHooks)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		j, err := e.next()
		if err != nil {
			return err
		}
		if j == nil {
			retried, err := e.autoRetry(ctx)
			if err != nil || !retried {
				return err
			}
			continue
		}
		code, stdout, stderr, dur, runErr := e.execute(ctx, j)
		if err := e.finish(ctx, j, code, stdout, stderr, dur, runErr); err != nil {
			return err
		}
	}
}

func unitKey(m *state.Model, u string) string {
	a, n := state.SplitUnit(u)
	return fmt.Sprintf("%s/%s/%s/%08d", m.Controller, m.Name, a, n)
}

// next picks the next hook and records its start.
func (e *Engine) next() (*job, error) {
	var j *job
	err := e.Store.Update(func(st *state.State) error {
		type cand struct {
			m   *state.Model
			u   *state.Unit
			key string
		}
		var cands []cand
		for _, m := range st.SortedModels() {
			for _, name := range m.SortedUnitNames() {
				u := m.Units[name]
				if len(u.Queue) == 0 || u.Failed != nil {
					continue
				}
				cands = append(cands, cand{m, u, unitKey(m, name)})
			}
		}
		if len(cands) == 0 {
			return nil
		}
		pick := cands[0]
		if e.Seed != 0 {
			pick = cands[e.rand().Intn(len(cands))]
		} else {
			for _, c := range cands {
				if c.key > e.rr {
					pick = c
					break
				}
			}
		}
		e.rr = pick.key
		m, u := pick.m, pick.u
		ev := u.Queue[0]
		// Drop hooks that lost their meaning while queued.
		if ev.Rel != 0 && st.Relations[ev.Rel] == nil {
			u.Queue = u.Queue[1:]
			j = &job{} // empty job: loop again
			return nil
		}
		var err error
		j, err = e.start(st, m, u, ev)
		return err
	})
	if j != nil && j.unit == "" {
		return e.next()
	}
	return j, err
}

// start records a hook's start: membership changes Juju makes visible during the hook,
// status, a hook context, and the environment.
func (e *Engine) start(st *state.State, m *state.Model, u *state.Unit, ev state.Event) (*job, error) {
	app := m.Apps[u.App]
	hook := st.HookName(m.UUID, u.App, ev)
	if ev.IsRelation() {
		r := st.Relations[ev.Rel]
		side := r.SideOf(m.UUID, u.App)
		ru := r.Sides[side].Units[u.Name]
		if ru == nil {
			ru = &state.RelUnit{Data: map[string]string{}}
			r.Sides[side].Units[u.Name] = ru
		}
		switch ev.Kind {
		case "relation-created":
			ru.Created = true
		case "relation-joined":
			if !contains(ru.Seen, ev.RemoteUnit) {
				ru.Seen = append(ru.Seen, ev.RemoteUnit)
			}
		case "relation-departed":
			var seen []string
			for _, s := range ru.Seen {
				if s != ev.RemoteUnit {
					seen = append(seen, s)
				}
			}
			ru.Seen = seen
		}
	}
	if ev.Kind == "install" && u.Workload.Message == "agent initialising" {
		u.Workload = state.Status{Current: "maintenance", Message: "installing charm software", Since: now()}
	}
	var act *state.Action
	if ev.Kind == "action" {
		act = m.Actions[ev.Action]
		if act == nil {
			u.Queue = u.Queue[1:]
			return &job{}, nil
		}
		act.Status = "running"
		act.Started = now()
		u.Agent = state.Status{Current: "executing", Message: fmt.Sprintf("running action %s", act.Name), Since: now()}
	} else {
		u.Agent = state.Status{Current: "executing", Message: fmt.Sprintf("running %s hook", hook), Since: now()}
	}
	ctxID := fmt.Sprintf("%s-%s-%d", strings.ReplaceAll(u.Name, "/", "-"), hook, st.NextSeq())
	st.Contexts[ctxID] = &state.HookContext{ID: ctxID, Model: m.UUID, Unit: u.Name, Event: ev, Hook: hook}
	mc := m.Machines[u.Machine]
	if mc == nil {
		return nil, fmt.Errorf("unit %s has no machine", u.Name)
	}
	j := &job{model: m.UUID, modelName: m.Name, unit: u.Name, hook: hook, ev: ev, ctxID: ctxID, mc: *mc, action: act}
	charmDir := AgentDir(u.Name) + "/charm"
	kind := "hooks"
	if ev.Kind == "action" {
		kind = "actions"
	}
	switch {
	case fileExists(filepath.Join(app.CharmDir, "dispatch")):
		j.handler = charmDir + "/dispatch"
	case fileExists(filepath.Join(app.CharmDir, kind, hook)):
		j.handler = charmDir + "/" + kind + "/" + hook
	}
	j.env = e.hookEnv(st, m, u, app, ev, hook, ctxID, charmDir, kind)
	return j, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hookEnv builds every variable of the reference's section 2.
func (e *Engine) hookEnv(st *state.State, m *state.Model, u *state.Unit, app *state.App, ev state.Event, hook, ctxID, charmDir, kind string) []string {
	ctrl := st.Controllers[m.Controller]
	api := ""
	if ctrl != nil {
		api = ctrl.HostAddr + ":17070"
	}
	hookName := hook
	if ev.Kind == "action" {
		hookName = ""
	}
	env := map[string]string{
		"CHARM_DIR": charmDir, "JUJU_CHARM_DIR": charmDir, "JUJU_CONTEXT_ID": ctxID,
		"JUJU_UNIT_NAME": u.Name, "JUJU_MODEL_UUID": m.UUID, "JUJU_MODEL_NAME": m.Name,
		"JUJU_AGENT_SOCKET_ADDRESS": "@" + AgentDir(u.Name) + "/agent.socket", "JUJU_AGENT_SOCKET_NETWORK": "unix",
		"JUJU_HOOK_NAME": hookName, "JUJU_API_ADDRESSES": api, "JUJU_SLA": "unsupported",
		"JUJU_MACHINE_ID": u.Machine, "JUJU_PRINCIPAL_UNIT": "", "JUJU_AVAILABILITY_ZONE": "",
		"JUJU_VERSION": "3.6.1", "CLOUD_API_VERSION": "",
		"JUJU_CHARM_HTTP_PROXY": "", "JUJU_CHARM_HTTPS_PROXY": "", "JUJU_CHARM_FTP_PROXY": "", "JUJU_CHARM_NO_PROXY": "127.0.0.1,localhost,::1",
		"http_proxy": "", "HTTP_PROXY": "", "https_proxy": "", "HTTPS_PROXY": "", "ftp_proxy": "", "FTP_PROXY": "",
		"no_proxy": "127.0.0.1,localhost,::1", "NO_PROXY": "127.0.0.1,localhost,::1",
		"PATH":                     e.ToolsDir() + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"APT_LISTCHANGES_FRONTEND": "none", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "TERM": "tmux-256color",
		"HOME": "/root", "USER": "root",
		"JUJU_DISPATCH_PATH": kind + "/" + hook,
		"JUJUSIM_HOME":       e.Home,
	}
	if ev.IsRelation() {
		r := st.Relations[ev.Rel]
		side := r.SideOf(m.UUID, u.App)
		o := r.Other(side)
		s := r.Sides[side]
		env["JUJU_RELATION"] = s.Endpoint
		env["JUJU_RELATION_ID"] = state.FormatRelID(s.Endpoint, s.ID)
		env["JUJU_REMOTE_APP"] = r.Sides[o].Alias
		env["JUJU_REMOTE_UNIT"] = ""
		if ev.RemoteUnit != "" {
			env["JUJU_REMOTE_UNIT"] = r.RemoteName(o, ev.RemoteUnit)
		}
		if ev.Kind == "relation-departed" {
			if ev.Departing == u.Name {
				env["JUJU_DEPARTING_UNIT"] = u.Name
			} else {
				env["JUJU_DEPARTING_UNIT"] = r.RemoteName(o, ev.Departing)
			}
		}
	}
	if ev.IsStorage() {
		if s := m.Storage[ev.Storage]; s != nil {
			env["JUJU_STORAGE_ID"] = s.ID
			env["JUJU_STORAGE_LOCATION"] = s.Location
			env["JUJU_STORAGE_KIND"] = s.Kind
		}
	}
	if ev.Kind == "action" {
		if a := m.Actions[ev.Action]; a != nil {
			env["JUJU_ACTION_NAME"] = a.Name
			env["JUJU_ACTION_UUID"] = a.ID
			env["JUJU_ACTION_TAG"] = "action-" + a.ID
		}
	}
	if ev.Secret != "" {
		env["JUJU_SECRET_ID"] = "secret:" + ev.Secret
		label := ""
		for _, mm := range st.Models {
			if s := mm.Secrets[ev.Secret]; s != nil {
				label = s.Label
				if c := s.Consumers[u.Name]; c != nil {
					label = c.Label
				}
			}
		}
		env["JUJU_SECRET_LABEL"] = label
	}
	var out []string
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

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
		if len(u.Queue) > 0 && u.Queue[0] == j.ev {
			u.Queue = u.Queue[1:]
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
			if m.Config["automatically-retry-hooks"] == "true" && u.Retries < MaxAutoRetries {
				u.RetryAt = now().Add(RetryDelay << u.Retries)
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
	e.logRun(j, code, stdout, stderr, string(jujuLog), dur, runErr)
	for _, f := range after {
		f()
	}
	return err
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

// transition applies what a successful (or skipped) hook means for the unit's lifecycle.
func (e *Engine) transition(st *state.State, m *state.Model, u *state.Unit, ev state.Event) []func() {
	switch ev.Kind {
	case "install":
		u.Installed = true
		if u.Workload.Message == "installing charm software" {
			u.Workload = state.Status{Current: "unknown", Since: now()}
		}
	case "start":
		u.Started = true
		for _, r := range st.RelationsOfApp(m.UUID, u.App) {
			if !r.Dying {
				e.enterScope(st, r, r.SideOf(m.UUID, u.App), u)
			}
		}
	case "relation-broken":
		if r := st.Relations[ev.Rel]; r != nil {
			side := r.SideOf(m.UUID, u.App)
			if ru := r.Sides[side].Units[u.Name]; ru != nil {
				ru.Broken = true
			}
			e.maybeDeleteRelation(st, r)
		}
	case "remove":
		return e.finalizeUnit(st, m, u)
	}
	return nil
}

// maybeDeleteRelation deletes a dying relation once every unit ran relation-broken.
func (e *Engine) maybeDeleteRelation(st *state.State, r *state.Relation) {
	if !r.Dying {
		return
	}
	for _, s := range r.Sides {
		m := st.Models[s.Model]
		if m == nil {
			continue
		}
		for name, ru := range s.Units {
			u := m.Units[name]
			if u == nil || u.Removed || !ru.Created || ru.Broken {
				continue
			}
			return
		}
	}
	delete(st.Relations, r.Key)
}

// finalizeUnit removes a unit after its remove hook: storage is detached (or destroyed),
// the machine destroyed, and leadership moves on.
func (e *Engine) finalizeUnit(st *state.State, m *state.Model, u *state.Unit) []func() {
	var after []func()
	mc := m.Machines[u.Machine]
	var mcCopy state.Machine
	if mc != nil {
		mcCopy = *mc
	}
	var detach []string
	var destroyDirs []string
	for _, id := range sortedKeys(m.Storage) {
		s := m.Storage[id]
		if s.Unit != u.Name {
			continue
		}
		detach = append(detach, s.Location)
		if u.DestroySt {
			if v := st.Volumes[s.Volume]; v != nil {
				destroyDirs = append(destroyDirs, v.Dir)
				delete(st.Volumes, s.Volume)
			}
			delete(m.Storage, id)
			continue
		}
		s.Unit, s.Location, s.Status = "", "", "detached"
	}
	for _, r := range st.RelationsOfApp(m.UUID, u.App) {
		side := r.SideOf(m.UUID, u.App)
		if ru := r.Sides[side].Units[u.Name]; ru != nil {
			ru.InScope = false
			ru.Broken = true
		}
		e.maybeDeleteRelation(st, r)
	}
	delete(m.Units, u.Name)
	delete(m.Machines, u.Machine)
	defer e.maybeDeleteApp(st, m, u.App)
	app := m.Apps[u.App]
	if app != nil && app.Leader == u.Name {
		app.Leader = ""
		var alive []*state.Unit
		for _, x := range m.UnitsOf(u.App) {
			if x.Life == "alive" {
				alive = append(alive, x)
			}
		}
		if len(alive) > 0 {
			next := alive[0]
			if e.Seed != 0 {
				next = alive[e.rand().Intn(len(alive))]
			}
			app.Leader = next.Name
			if next.Installed || len(next.Queue) > 0 {
				// A unit still installing gets leader-elected in its own sequence only if
				// it had been queued as minion: replace that.
				replaced := false
				for i, ev := range next.Queue {
					if ev.Kind == "leader-settings-changed" && !next.Installed {
						next.Queue[i] = state.Event{Kind: "leader-elected"}
						replaced = true
						break
					}
				}
				if !replaced {
					next.Enqueue(state.Event{Kind: "leader-elected"})
				}
			}
		}
	}
	after = append(after, func() {
		if mcCopy.Dir == "" {
			return
		}
		mach, err := e.loadMachine(&mcCopy)
		if err != nil {
			e.logf(m, u.Name, "ERROR", "juju.jujusim", "load machine %s: %v", mcCopy.ID, err)
			return
		}
		for _, loc := range detach {
			if loc == "" {
				continue
			}
			if err := mach.Detach(loc); err != nil {
				e.logf(m, u.Name, "ERROR", "juju.jujusim", "detach %s: %v", loc, err)
			}
		}
		if err := mach.Destroy(context.Background()); err != nil {
			e.logf(m, u.Name, "ERROR", "juju.jujusim", "destroy machine %s: %v", mcCopy.ID, err)
		}
		delete(e.mcach, mcCopy.Dir)
		for _, d := range destroyDirs {
			_ = os.RemoveAll(d)
		}
	})
	return after
}

// commit applies a successful hook's buffered writes and queues what they trigger.
func (e *Engine) commit(st *state.State, m *state.Model, u *state.Unit, hc *state.HookContext) []func() {
	for _, key := range sortedIntKeys(hc.RelSets) {
		r := st.Relations[key]
		if r == nil {
			continue
		}
		side := r.SideOf(m.UUID, u.App)
		s := r.Sides[side]
		ru := s.Units[u.Name]
		if ru == nil {
			ru = &state.RelUnit{}
			s.Units[u.Name] = ru
		}
		if ru.Data == nil {
			ru.Data = map[string]string{}
		}
		if applyBag(ru.Data, hc.RelSets[key]) {
			e.notifyUnit(st, r, side, u.Name)
		}
	}
	for _, key := range sortedIntKeys(hc.AppSets) {
		r := st.Relations[key]
		if r == nil {
			continue
		}
		side := r.SideOf(m.UUID, u.App)
		s := r.Sides[side]
		if s.AppData == nil {
			s.AppData = map[string]string{}
		}
		if applyBag(s.AppData, hc.AppSets[key]) {
			e.notifyApp(st, r, side, u)
		}
	}
	for _, op := range hc.PortOps {
		ports := u.Ports[:0:0]
		for _, p := range u.Ports {
			if p != op.Port {
				ports = append(ports, p)
			}
		}
		if u.PortEPs == nil {
			u.PortEPs = map[string]string{}
		}
		delete(u.PortEPs, op.Port)
		if op.Open {
			ports = append(ports, op.Port)
			if len(op.Endpoints) > 0 {
				u.PortEPs[op.Port] = strings.Join(op.Endpoints, ", ")
			}
		}
		tools.SortPorts(ports)
		u.Ports = ports
	}
	for k, v := range hc.StateSets {
		if u.State == nil {
			u.State = map[string]string{}
		}
		if v == nil {
			delete(u.State, k)
		} else {
			u.State[k] = *v
		}
	}
	for _, op := range hc.SecretOps {
		e.applySecretOp(st, m, u, hc, op)
	}
	if len(hc.StorageAdd) > 0 {
		e.logf(m, u.Name, "WARNING", "juju.jujusim", "storage-add %v ignored: jujusim adds storage only at deploy/add-unit", hc.StorageAdd)
	}
	if hc.Event.Kind == "config-changed" {
		// Juju refreshes the address keys of relation bags when config-changed flushes.
		for _, r := range st.RelationsOfApp(m.UUID, u.App) {
			side := r.SideOf(m.UUID, u.App)
			if ru := r.Sides[side].Units[u.Name]; ru != nil && ru.InScope {
				if e.writeAddresses(st, m.UUID, u, ru) {
					e.notifyUnit(st, r, side, u.Name)
				}
			}
		}
	}
	return nil
}

func sortedIntKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

func applyBag(bag, changes map[string]string) bool {
	changed := false
	for k, v := range changes {
		old, had := bag[k]
		if v == "" {
			if had {
				delete(bag, k)
				changed = true
			}
			continue
		}
		if !had || old != v {
			bag[k] = v
			changed = true
		}
	}
	return changed
}

// notifyUnit queues relation-changed for units that have seen unit join.
func (e *Engine) notifyUnit(st *state.State, r *state.Relation, side int, unit string) {
	for _, v := range e.peersOf(st, r, side, unit) {
		if contains(v.ru.Seen, unit) && v.u.Life == "alive" {
			v.u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteUnit: unit})
		}
	}
}

// notifyApp queues relation-changed (no remote unit) on the other side's units.
func (e *Engine) notifyApp(st *state.State, r *state.Relation, side int, writer *state.Unit) {
	o := r.Other(side)
	os := r.Sides[o]
	om := st.Models[os.Model]
	if om == nil {
		return
	}
	for _, name := range sortedUnitKeys(os.Units) {
		ru := os.Units[name]
		u := om.Units[name]
		if name == writer.Name || u == nil || u.Removed || u.Life != "alive" || !ru.Created || !ru.InScope {
			continue
		}
		u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteApp: r.Sides[side].App})
	}
}

func (e *Engine) applySecretOp(st *state.State, m *state.Model, u *state.Unit, hc *state.HookContext, op state.SecretOp) {
	var s *state.Secret
	for _, mm := range st.Models {
		if x := mm.Secrets[op.ID]; x != nil {
			s = x
		}
	}
	switch op.Op {
	case "add":
		if p := hc.Pending[op.ID]; p != nil {
			m.Secrets[op.ID] = p
		}
		return
	}
	if s == nil {
		return
	}
	switch op.Op {
	case "set":
		before := s.Latest()
		tools.ApplySecretSet(s, op)
		if s.Latest() != before {
			for cu, c := range s.Consumers {
				if c.Rev < s.Latest() {
					if cuu := findUnit(st, cu); cuu != nil && cuu.Life == "alive" {
						cuu.Enqueue(state.Event{Kind: "secret-changed", Secret: s.ID})
					}
				}
			}
		}
	case "remove":
		if op.Revision == 0 {
			for _, mm := range st.Models {
				delete(mm.Secrets, op.ID)
			}
			return
		}
		var revs []state.SecretRevision
		for _, r := range s.Revisions {
			if r.Rev != op.Revision {
				revs = append(revs, r)
			}
		}
		s.Revisions = revs
	case "grant":
		if s.Grants == nil {
			s.Grants = map[string]int{}
		}
		s.Grants[op.Subject] = op.Rel
	case "revoke":
		if op.Subject == "" {
			s.Grants = nil
		} else {
			delete(s.Grants, op.Subject)
		}
	}
}

func findUnit(st *state.State, name string) *state.Unit {
	for _, m := range st.Models {
		if u := m.Units[name]; u != nil && !u.Removed {
			return u
		}
	}
	return nil
}

// With model config automatically-retry-hooks=true a failed hook is retried after
// RetryDelay, doubling, at most MaxAutoRetries times per hook (Juju: 5s doubling up to
// 5 minutes, forever). Off by default in jujusim: tests resolve explicitly.
var (
	RetryDelay     = 5 * time.Second
	MaxAutoRetries = 5
)

// autoRetry waits for the earliest scheduled automatic retry and clears that unit's error;
// it reports false when no retry is scheduled.
func (e *Engine) autoRetry(ctx context.Context) (bool, error) {
	var at time.Time
	_ = e.Store.View(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Failed != nil && !u.RetryAt.IsZero() && (at.IsZero() || u.RetryAt.Before(at)) {
					at = u.RetryAt
				}
			}
		}
		return nil
	})
	if at.IsZero() {
		return false, nil
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(time.Until(at)):
	}
	err := e.Store.Update(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Failed != nil && !u.RetryAt.IsZero() && !u.RetryAt.After(time.Now()) {
					u.Failed, u.RetryAt = nil, time.Time{}
					u.Retries++
					if u.Before != nil {
						u.Workload, u.Before = *u.Before, nil
					}
				}
			}
		}
		return nil
	})
	return true, err
}

// Resolve clears a unit's error: the failed hook runs again, or with noRetry is skipped.
func (e *Engine) Resolve(ref ModelRef, unitName string, noRetry bool) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		if u.Failed == nil {
			return fmt.Errorf("unit %q is not in an error state", unitName)
		}
		ev := *u.Failed
		u.Failed = nil
		u.Retries, u.RetryAt = 0, time.Time{}
		if u.Before != nil {
			u.Workload = *u.Before
			u.Before = nil
		}
		if noRetry {
			if len(u.Queue) > 0 {
				u.Queue = u.Queue[1:]
			}
			for _, f := range e.transition(st, m, u, ev) {
				defer f()
			}
		}
		return nil
	})
}

// RunHook queues a non-relation hook (update-status, config-changed, ...) on a unit.
func (e *Engine) RunHook(ref ModelRef, unitName, hook string) error {
	switch hook {
	case "update-status", "config-changed", "start", "stop", "install", "upgrade-charm", "leader-settings-changed", "leader-elected":
	default:
		return fmt.Errorf("run-hook supports update-status, config-changed, start, stop, install, upgrade-charm, leader-elected and leader-settings-changed, not %q", hook)
	}
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		u.Enqueue(state.Event{Kind: hook})
		return nil
	})
}

// UpdateStatus queues update-status on every started unit of every model.
func (e *Engine) UpdateStatus() error {
	return e.Store.Update(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Started && u.Life == "alive" && !u.Removed {
					u.Enqueue(state.Event{Kind: "update-status"})
				}
			}
		}
		return nil
	})
}

var _ = strconv.Itoa
