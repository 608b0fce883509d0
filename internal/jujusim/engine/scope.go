package engine

import (
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// enterScopes enters every live relation whose relation-created ran, once installed.
func (e *Engine) enterScopes(st *state.State, m *state.Model, u *state.Unit) {
	if !u.Installed {
		return
	}
	for _, r := range st.RelationsOfApp(m.UUID, u.App) {
		side := r.SideOf(m.UUID, u.App)
		if ru := r.Sides[side].Units[u.Name]; !r.Dying && ru != nil && ru.Created {
			e.enterScope(st, r, side, u)
		}
	}
}

// enterScope puts an installed unit into r's scope: its address keys go into its bag and
// both ends get relation-joined then relation-changed for each other.
func (e *Engine) enterScope(st *state.State, r *state.Relation, side int, u *state.Unit) {
	s := r.Sides[side]
	ru := s.Units[u.Name]
	if ru == nil {
		ru = &state.RelUnit{Data: map[string]string{}}
		s.Units[u.Name] = ru
	}
	if ru.InScope || r.Dying || u.Life != "alive" {
		return
	}
	if ru.Data == nil {
		ru.Data = map[string]string{}
	}
	ru.InScope = true
	e.writeAddresses(st, r, side, u, ru)
	if o := r.Sides[r.Other(side)]; len(o.AppData) > 0 {
		// worker/uniter/relation/resolver.go nextHookForRelation runs the remote
		// application's settings change before joining any remote unit.
		u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteApp: o.App})
	}
	for _, v := range e.peersOf(st, r, side, u.Name) {
		u.Enqueue(state.Event{Kind: "relation-joined", Rel: r.Key, RemoteUnit: v.u.Name})
		u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteUnit: v.u.Name})
		if v.u.Life == "alive" {
			v.u.Enqueue(state.Event{Kind: "relation-joined", Rel: r.Key, RemoteUnit: u.Name})
			v.u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteUnit: u.Name})
		}
	}
}

// leaveScope takes unit out of r's scope: units that saw it get relation-departed, and
// joins it had not yet delivered are cancelled.
func (e *Engine) leaveScope(st *state.State, r *state.Relation, side int, unit string) {
	ru := r.Sides[side].Units[unit]
	if ru == nil || !ru.InScope {
		return
	}
	ru.InScope = false
	for _, v := range e.peersOf(st, r, side, unit) {
		vru := v.ru
		if contains(vru.Seen, unit) {
			enqueueOnce(v.u, state.Event{Kind: "relation-departed", Rel: r.Key, RemoteUnit: unit, Departing: unit})
		}
		v.u.Drop(func(ev state.Event) bool {
			return ev.Rel == r.Key && ev.RemoteUnit == unit && (ev.Kind == "relation-joined" || ev.Kind == "relation-changed")
		})
	}
}

type relPeer struct {
	u    *state.Unit
	ru   *state.RelUnit
	side int
}

// peersOf lists the units on the other side of r from (side, unit) (same side for peers)
// that are in scope.
func (e *Engine) peersOf(st *state.State, r *state.Relation, side int, unit string) []relPeer {
	o := r.Other(side)
	os := r.Sides[o]
	om := st.Models[os.Model]
	if om == nil {
		return nil
	}
	var res []relPeer
	for _, name := range sortedUnitKeys(os.Units) {
		ru := os.Units[name]
		if name == unit || !ru.InScope {
			continue
		}
		if u := om.Units[name]; u != nil && !u.Removed {
			res = append(res, relPeer{u: u, ru: ru, side: o})
		}
	}
	return res
}

// writeAddresses sets private-address, ingress-address (both the unit's ingress address for
// the relation) and egress-subnets; it reports whether anything changed.
func (e *Engine) writeAddresses(st *state.State, r *state.Relation, side int, u *state.Unit, ru *state.RelUnit) bool {
	m := st.Models[r.Sides[side].Model]
	mc := m.Machines[u.Machine]
	if mc == nil {
		return false
	}
	ingress, egress := tools.RelationAddresses(m, mc, r, side)
	want := map[string]string{
		"private-address": ingress,
		"ingress-address": ingress,
		"egress-subnets":  strings.Join(egress, ","),
	}
	changed := false
	for k, v := range want {
		if ru.Data[k] != v {
			ru.Data[k] = v
			changed = true
		}
	}
	return changed
}
