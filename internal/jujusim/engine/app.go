package engine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
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
// does: hook tools work, and their buffered writes are committed when argv ends, whatever
// its exit code (RunCommands: serialised with the unit's hooks, as juju-exec).
func (e *Engine) ExecInContext(ctx context.Context, ref ModelRef, unitName string, argv []string, stdio [3]*os.File) (int, error) {
	var mc state.Machine
	args := RunArgs{Unit: unitName, RelationID: -1}
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil || u.Removed {
			return fmt.Errorf("unit %q not found", unitName)
		}
		x := m.Machines[u.Machine]
		if x == nil {
			return fmt.Errorf("unit %q has no machine", unitName)
		}
		mc, args.Model = *x, m.UUID
		return nil
	})
	if err != nil {
		return 1, err
	}
	if err := e.ensureTools(); err != nil {
		return 1, err
	}
	mach, err := e.loadMachine(&mc)
	if err != nil {
		return 1, err
	}
	return e.RunCommands(ctx, args, func(ctx context.Context, env []string, charmDir string) (int, error) {
		cmd := mach.Command(ctx, "/bin/sh", append([]string{"-c", `cd "$0" && exec "$@"`, charmDir}, argv...)...)
		cmd.Env = env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
		return exitCode(cmd.Run())
	})
}
