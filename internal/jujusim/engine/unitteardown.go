package engine

import (
	"fmt"
	"sort"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// RemoveUnit starts tearing a unit down (its hooks then run when the engine settles).
func (e *Engine) RemoveUnit(ref ModelRef, unitName string, destroyStorage bool) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil || u.Removed {
			return fmt.Errorf("unit %q not found", unitName)
		}
		if u.Life != "alive" {
			return nil
		}
		u.DestroySt = destroyStorage
		e.teardown(st, m, u)
		return nil
	})
}

// teardown makes a unit dying and queues its hooks in Juju 3.6's order.
//
// Others see it depart at once: state/cleanup.go cleanupDyingUnit calls PrepareLeaveScope
// on every joined relation ("allowing related units to start converging to a state in
// which that unit is gone as quickly as possible") and marks its storage attachments dying.
// The unit itself first detaches its storage (worker/uniter/resolver.go consults the
// storage resolver before the others; worker/uniter/storage/resolver.go: "The unit is
// dying, so destroy all of its storage"), then the relations resolver breaks its relations
// (worker/uniter/relation/resolver.go nextHookForRelation: departed for each known remote
// unit, then broken, never broken for a peer relation; this follows the reference in
// running non-peer relations before peers, where Juju iterates a map), then stop and
// remove (worker/uniter/resolver.go, once nothing else is left).
func (e *Engine) teardown(st *state.State, m *state.Model, u *state.Unit) {
	u.Life = "dying"
	u.Drop(func(ev state.Event) bool { return ev.Kind != "action" })
	for _, id := range sortedUnitKeys(m.Storage) {
		if s := m.Storage[id]; s.Unit == u.Name && s.Status == "attached" {
			u.Enqueue(state.Event{Kind: "storage-detaching", Storage: id})
		}
	}
	var peers []state.Event
	for _, r := range st.RelationsOfApp(m.UUID, u.App) {
		side := r.SideOf(m.UUID, u.App)
		ru := r.Sides[side].Units[u.Name]
		if ru == nil {
			continue
		}
		e.leaveScope(st, r, side, u.Name)
		if !ru.Created {
			continue // relation-created never ran: the unit has nothing to depart or break
		}
		var evs []state.Event
		for _, remote := range sortedRemotes(ru.Seen) {
			evs = append(evs, state.Event{Kind: "relation-departed", Rel: r.Key, RemoteUnit: remote, Departing: u.Name})
		}
		if r.Peer {
			peers = append(peers, evs...)
			continue
		}
		if !ru.Broken {
			evs = append(evs, state.Event{Kind: "relation-broken", Rel: r.Key})
		}
		for _, ev := range evs {
			u.Enqueue(ev)
		}
	}
	for _, ev := range peers {
		u.Enqueue(ev)
	}
	u.Enqueue(state.Event{Kind: "stop"})
	u.Enqueue(state.Event{Kind: "remove"})
}

// sortedRemotes orders remote unit names as the relations resolver does (sorted names).
func sortedRemotes(names []string) []string {
	s := append([]string(nil), names...)
	sort.Slice(s, func(i, j int) bool { return state.UnitLess(s[i], s[j]) })
	return s
}
