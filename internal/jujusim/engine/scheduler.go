package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	if err := e.expireLeases(); err != nil {
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
				if len(u.Queue) == 0 || u.Failed != nil || !m.Machines[u.Machine].Reachable() {
					continue // nothing to run, in error, or its agent cannot reach us (faults.go)
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
