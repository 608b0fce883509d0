package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// RemoveApplication tears down every unit of an application and its relations; the
// application disappears with its last unit. Storage is kept unless destroyStorage.
func (e *Engine) RemoveApplication(ref ModelRef, appName string, destroyStorage bool) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		app := m.Apps[appName]
		if app == nil {
			return fmt.Errorf("application %q not found", appName)
		}
		if app.Remote != nil {
			for _, r := range st.Relations {
				for _, s := range r.Sides {
					if s.Model == app.Remote.ModelUUID && s.App == app.Remote.App && relationVisibleIn(r, m.UUID) && !r.Dying {
						e.killRelation(st, r)
						break
					}
				}
			}
			delete(m.Apps, appName)
			return nil
		}
		app.Dying = true
		for _, u := range m.UnitsOf(appName) {
			if u.Life == "alive" {
				u.DestroySt = destroyStorage
				e.teardown(st, m, u)
			}
		}
		for _, r := range st.RelationsOfApp(m.UUID, appName) {
			if !r.Peer && !r.Dying {
				e.killRelation(st, r)
			}
		}
		for name, o := range m.Offers {
			if o.App == appName {
				delete(m.Offers, name)
			}
		}
		e.maybeDeleteApp(st, m, appName)
		return nil
	})
}

func relationVisibleIn(r *state.Relation, model string) bool {
	for _, s := range r.Sides {
		if s.Model == model {
			return true
		}
	}
	return false
}

// maybeDeleteApp removes a dying application once it has no units.
func (e *Engine) maybeDeleteApp(st *state.State, m *state.Model, appName string) {
	app := m.Apps[appName]
	if app == nil || !app.Dying || len(m.UnitsOf(appName)) > 0 {
		return
	}
	for k, r := range st.Relations {
		if i := r.SideOf(m.UUID, appName); i >= 0 && (r.Peer || r.Dying) {
			delete(st.Relations, k)
		}
	}
	delete(m.Apps, appName)
}

// Refresh upgrades an application to a new local charm: the charm is replaced in every
// unit's machine, then upgrade-charm and config-changed run, as Juju does.
func (e *Engine) Refresh(ctx context.Context, ref ModelRef, appName, path string) error {
	var seq int
	if err := e.Store.Update(func(st *state.State) error { seq = st.NextSeq(); return nil }); err != nil {
		return err
	}
	dest := charmStoreDir(e.Home, appName, seq)
	ch, err := loadCharm(path, dest)
	if err != nil {
		return err
	}
	type target struct {
		unit string
		mc   state.Machine
	}
	var targets []target
	err = e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		app := m.Apps[appName]
		if app == nil || app.Remote != nil {
			return fmt.Errorf("application %q not found", appName)
		}
		if app.CharmName != "" && ch.Meta().Name != app.CharmName {
			return fmt.Errorf("cannot refresh %q: charm name %q differs from %q", appName, ch.Meta().Name, app.CharmName)
		}
		app.CharmDir = dest
		app.Revision++
		charmFacts(app, ch)
		for _, u := range m.UnitsOf(appName) {
			if mc := m.Machines[u.Machine]; mc != nil {
				targets = append(targets, target{u.Name, *mc})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range targets {
		mach, err := e.loadMachine(&t.mc)
		if err != nil {
			return err
		}
		script := `set -e; rm -rf "$1/charm.new"; cp -a "$2" "$1/charm.new"; rm -rf "$1/charm"; mv "$1/charm.new" "$1/charm"`
		if out, err := mach.Command(ctx, "/bin/sh", "-c", script, "sh", AgentDir(t.unit), dest).CombinedOutput(); err != nil {
			return fmt.Errorf("refresh charm in %s: %w: %s", t.unit, err, strings.TrimSpace(string(out)))
		}
	}
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		for _, u := range m.UnitsOf(appName) {
			if u.Life != "alive" {
				continue
			}
			// worker/uniter/operation/runhook.go: upgrade-charm is followed by
			// config-changed only; Started is never reset, so no start.
			u.Enqueue(state.Event{Kind: "upgrade-charm"})
			u.Enqueue(state.Event{Kind: "config-changed"})
		}
		return nil
	})
}

// ExecInContext runs argv in a unit's machine as root inside a hook context, as `juju exec`
// does: hook tools work, and their buffered writes are committed if argv exits 0.
func (e *Engine) ExecInContext(ctx context.Context, ref ModelRef, unitName string, argv []string, stdio [3]*os.File) (int, error) {
	unlock, err := e.Store.Lock("runner")
	if err != nil {
		return 1, err
	}
	defer unlock()
	if err := e.ensureTools(); err != nil {
		return 1, err
	}
	var j *job
	err = e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		mc := m.Machines[u.Machine]
		if mc == nil {
			return fmt.Errorf("unit %q has no machine", unitName)
		}
		ev := state.Event{Kind: "juju-exec"}
		ctxID := fmt.Sprintf("%s-run-commands-%d", strings.ReplaceAll(u.Name, "/", "-"), st.NextSeq())
		st.Contexts[ctxID] = &state.HookContext{ID: ctxID, Model: m.UUID, Unit: u.Name, Event: ev, Hook: "juju-exec"}
		charmDir := AgentDir(u.Name) + "/charm"
		env := e.hookEnv(st, m, u, m.Apps[u.App], ev, "", ctxID, charmDir, "hooks")
		var clean []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, "JUJU_DISPATCH_PATH=") {
				clean = append(clean, kv)
			}
		}
		j = &job{model: m.UUID, modelName: m.Name, unit: u.Name, hook: "juju-exec", ev: ev, ctxID: ctxID, mc: *mc, env: clean}
		return nil
	})
	if err != nil {
		return 1, err
	}
	code := 0
	mach, err := e.loadMachine(&j.mc)
	if err == nil {
		cmd := mach.Command(ctx, "/bin/sh", append([]string{"-c", `cd "$0" && exec "$@"`, AgentDir(j.unit) + "/charm"}, argv...)...)
		cmd.Env = j.env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
		if rerr := cmd.Run(); rerr != nil {
			var ee interface{ ExitCode() int }
			if errors.As(rerr, &ee) {
				code = ee.ExitCode()
			} else {
				err = rerr
			}
		}
	}
	var after []func()
	uerr := e.Store.Update(func(st *state.State) error {
		hc := st.Contexts[j.ctxID]
		delete(st.Contexts, j.ctxID)
		m := st.Models[j.model]
		if m == nil || hc == nil || code != 0 || err != nil {
			return nil
		}
		if u := m.Units[j.unit]; u != nil {
			after = e.commit(st, m, u, hc)
		}
		return nil
	})
	for _, f := range after {
		f()
	}
	os.Remove(tools.CtxLogPath(e.Home, j.ctxID))
	return code, errors.Join(err, uerr)
}
