package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
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
	release                      func() // the unit's busy lock (unitlock.go), held until finish
}

// Settle runs queued hooks until no unit has a runnable hook. Like Juju's machine agents,
// it runs the hooks of units on different machines at the same time, each unit one hook at
// a time, each hook's writes committed atomically when it ends (finish); under --seed each
// hook starts after a seeded delay of up to MaxStartDelay, so that interleavings differ
// from seed to seed. Serial runs one hook at a time in the whole home.
func (e *Engine) Settle(ctx context.Context) error {
	unlock, err := e.Store.Lock("runner")
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.ensureTools(); err != nil {
		return err
	}
	if err := e.ExpireLeases(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(e.Home, "run"), 0o700); err != nil {
		return err
	}
	serial := e.Serial
	if err := e.Store.Update(func(st *state.State) error {
		for _, m := range st.Models {
			serial = serial || m.Config["jujusim-serial"] == "true"
			for _, u := range m.Units {
				u.Running = nil // left by a jujusim that died mid-hook: the runner lock is ours
			}
		}
		return nil
	}); err != nil {
		return err
	}
	limit := MaxConcurrentHooks
	if serial {
		limit = 1
	}
	type result struct {
		j              *job
		code           int
		stdout, stderr string
		dur            time.Duration
		runErr         error
	}
	results := make(chan result)
	running := 0
	ran := map[string]int{}
	fired := map[string]bool{}
	var firstErr error
	for n := 0; ; {
		blocked := false
		for firstErr == nil && running < limit && ctx.Err() == nil {
			if n >= MaxHooks {
				firstErr = notSettled(ran)
				break
			}
			j, err := e.next(fired, &blocked)
			if err != nil {
				firstErr = err
				break
			}
			if j == nil {
				break
			}
			n++
			ran[j.unit+" "+j.hook]++
			running++
			delay := time.Duration(0)
			if e.Seed != 0 && limit > 1 {
				delay = time.Duration(e.rand().Int63n(int64(MaxStartDelay) + 1))
			}
			go func() {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				r := result{j: j}
				r.code, r.stdout, r.stderr, r.dur, r.runErr = e.execute(ctx, j)
				results <- r
			}()
		}
		if running == 0 {
			if firstErr != nil {
				return firstErr
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if blocked {
				// A juju-exec runs on a unit with queued hooks: they run after it commits,
				// and so does whatever its writes queue.
				select {
				case <-ctx.Done():
				case <-time.After(CommandPoll):
				}
				continue
			}
			retried, err := e.autoRetry(ctx)
			if err != nil || !retried {
				return err
			}
			continue
		}
		r := <-results
		running--
		if err := e.finish(ctx, r.j, r.code, r.stdout, r.stderr, r.dur, r.runErr); err != nil && firstErr == nil {
			firstErr = err
		}
	}
}

// CommandPoll is how often a Settle with nothing else to run looks again at units held by
// a juju-exec command.
var CommandPoll = 100 * time.Millisecond

// MaxConcurrentHooks bounds how many hooks run at once (one per machine at most).
var MaxConcurrentHooks = 16

// MaxStartDelay is the longest seeded delay before a hook starts under --seed.
var MaxStartDelay = 300 * time.Millisecond

func unitKey(m *state.Model, u string) string {
	a, n := state.SplitUnit(u)
	return fmt.Sprintf("%s/%s/%s/%08d", m.Controller, m.Name, a, n)
}

// next picks the next hook and records its start; blocked reports that a unit with a
// runnable hook was skipped because a juju-exec command holds or waits for it.
func (e *Engine) next(fired map[string]bool, blocked *bool) (*job, error) {
	var j *job
	err := e.Store.Update(func(st *state.State) error {
		e.expireLeasesIn(st) // a lease may lapse while a long Settle runs or waits
		queueUpdateStatus(st, fired)
		type cand struct {
			m   *state.Model
			u   *state.Unit
			key string
			pos int // queue position of the event to run
		}
		var cands []cand
		for _, m := range st.SortedModels() {
			for _, name := range m.SortedUnitNames() {
				u := m.Units[name]
				switch {
				case len(u.Queue) == 0 || u.Running != nil || !m.Machines[u.Machine].Reachable():
					// nothing to run, running, or its agent cannot reach us (faults.go)
				case u.Failed == nil:
					cands = append(cands, cand{m, u, unitKey(m, name), 0})
				default:
					// A unit in error still runs its actions, between hooks
					// (worker/uniter/actions/resolver.go).
					for i, ev := range u.Queue[1:] {
						if ev.Kind == "action" {
							cands = append(cands, cand{m, u, unitKey(m, name), i + 1})
							break
						}
					}
				}
			}
		}
		if len(cands) == 0 {
			return nil
		}
		first := 0
		if e.Seed != 0 {
			first = e.rand().Intn(len(cands))
		} else {
			for i, c := range cands {
				if c.key > e.rr {
					first = i
					break
				}
			}
		}
		// The pick runs unless a juju-exec holds or waits for the unit (unitlock.go); then
		// the next candidate in order does.
		var pick cand
		var release func()
		for i := range cands {
			c := cands[(first+i)%len(cands)]
			r, err := e.tryUnitBusy(c.m.UUID, c.u.Name)
			if err != nil {
				return err
			}
			if r != nil {
				pick, release = c, r
				break
			}
			*blocked = true
		}
		if release == nil {
			return nil
		}
		e.rr = pick.key
		m, u := pick.m, pick.u
		ev := u.Queue[pick.pos]
		// Drop hooks that lost their meaning while queued.
		if ev.Rel != 0 && st.Relations[ev.Rel] == nil {
			u.Queue = u.Queue[1:]
			release()
			j = &job{} // empty job: loop again
			return nil
		}
		var err error
		j, err = e.start(st, m, u, ev)
		if err != nil || j == nil || j.unit == "" {
			release()
		} else {
			j.release = release
		}
		return err
	})
	if j != nil && j.unit == "" {
		return e.next(fired, blocked)
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
			u.Drop(func(q state.Event) bool { return q == ev })
			return &job{}, nil
		}
		act.Status = "running"
		act.Started = now()
		u.Agent = state.Status{Current: "executing", Message: fmt.Sprintf("running action %s", act.Name), Since: now()}
	} else {
		u.Agent = state.Status{Current: "executing", Message: fmt.Sprintf("running %s hook", hook), Since: now()}
	}
	running := ev
	u.Running = &running
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

// notSettled names the loop a charm is caught in: the hooks that ran most often.
func notSettled(ran map[string]int) error {
	type count struct {
		what string
		n    int
	}
	var cs []count
	for w, n := range ran {
		cs = append(cs, count{w, n})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n || cs[i].n == cs[j].n && cs[i].what < cs[j].what })
	var top []string
	for _, c := range cs[:min(len(cs), 4)] {
		top = append(top, fmt.Sprintf("%s %d times", c.what, c.n))
	}
	return fmt.Errorf("hooks did not settle after %d runs: a charm keeps triggering itself (%s); "+
		"a leader's write to its peer application data runs relation-changed on the leader too, so it must write only what changed",
		MaxHooks, strings.Join(top, ", "))
}

// DefaultUpdateStatusInterval is Juju's update-status-hook-interval.
const DefaultUpdateStatusInterval = 5 * time.Minute

// queueUpdateStatus fires the update-status timer of every started unit whose
// update-status-hook-interval has passed (worker/uniter/remotestate: the update-status
// timer), interleaving update-status with the other hooks. Each unit's timer fires at most
// once per Settle, so that a short interval cannot keep a Settle from ending.
func queueUpdateStatus(st *state.State, fired map[string]bool) {
	for _, m := range st.SortedModels() {
		every := DefaultUpdateStatusInterval
		if d, err := time.ParseDuration(m.Config["update-status-hook-interval"]); err == nil && d > 0 {
			every = d
		}
		for _, name := range m.SortedUnitNames() {
			u := m.Units[name]
			key := m.UUID + "/" + name
			if !u.Started || u.Life != "alive" || u.Failed != nil || fired[key] || time.Since(u.StatusAt) < every {
				continue
			}
			fired[key] = true
			u.StatusAt = now()
			u.Enqueue(state.Event{Kind: "update-status"})
		}
	}
}
