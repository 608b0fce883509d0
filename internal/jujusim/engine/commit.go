package engine

import (
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

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
				if e.writeAddresses(st, r, side, u, ru) {
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

// ownedBy tells whether unit (of the secret's model m) owns s: secret-changed goes to its
// consumers only, never to its owners, who track a revision too.
func ownedBy(s *state.Secret, m *state.Model, unit string) bool {
	if s.OwnerUnit != "" {
		return s.OwnerUnit == unit
	}
	u := m.Units[unit]
	return u != nil && u.App == s.OwnerApp
}

// notifyUnit queues relation-changed for units that have seen unit join.
func (e *Engine) notifyUnit(st *state.State, r *state.Relation, side int, unit string) {
	for _, v := range e.peersOf(st, r, side, unit) {
		if contains(v.ru.Seen, unit) && v.u.Life == "alive" {
			v.u.Enqueue(state.Event{Kind: "relation-changed", Rel: r.Key, RemoteUnit: unit})
		}
	}
}

// notifyApp queues relation-changed (no remote unit) on the other side's units. In a peer
// relation the other side is the writer's own application, the leader included: Juju's
// relation units watch their counterpart application's settings
// (state/relationunit.go counterpartApplicationSettingsKeys), which for a peer relation is
// their own, so the leader gets relation-changed for its own app-bag writes (juju#20178).
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
		if (name == writer.Name && !r.Peer) || u == nil || u.Removed || u.Life != "alive" || !ru.Created || !ru.InScope {
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
				if c.Rev < s.Latest() && !ownedBy(s, m, cu) {
					if cuu := findUnit(st, cu); cuu != nil && cuu.Life == "alive" {
						cuu.Enqueue(state.Event{Kind: "secret-changed", Secret: s.ID})
					}
				}
			}
		}
	case "track":
		// secret-get --refresh after the owner's secret-set in the same hook.
		if c := s.Consumers[op.Subject]; c != nil {
			c.Rev = s.Latest()
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
