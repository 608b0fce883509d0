package engine

import (
	"context"
	"os"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// transition applies what a successful (or skipped) hook means for the unit's lifecycle.
func (e *Engine) transition(st *state.State, m *state.Model, u *state.Unit, ev state.Event) []func() {
	switch ev.Kind {
	case "install":
		u.Installed = true
		if u.Workload.Message == "installing charm software" {
			u.Workload = state.Status{Current: "unknown", Since: now()}
		}
		e.enterScopes(st, m, u)
	case "relation-created":
		// A unit joins a relation once installed and its relation-created ran
		// (worker/uniter/relation/statetracker.go joinRelation), not after start:
		// others may see it join before its config-changed or start.
		e.enterScopes(st, m, u)
	case "start":
		u.Started = true
		u.StatusAt = now()
	case "storage-detaching":
		return e.detachStorage(st, m, u, ev.Storage)
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
	detached := append([]string(nil), u.Detached...)
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
		e.checkDetached(mach, m, u.Name, detached)
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
		e.forgetMachine(mcCopy.Dir)
		for _, d := range destroyDirs {
			_ = os.RemoveAll(d)
		}
	})
	return after
}

func findUnit(st *state.State, name string) *state.Unit {
	for _, m := range st.Models {
		if u := m.Units[name]; u != nil && !u.Removed {
			return u
		}
	}
	return nil
}
