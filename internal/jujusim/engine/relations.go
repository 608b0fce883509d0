package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func splitEndpoint(s string) (string, string) {
	app, ep, _ := strings.Cut(s, ":")
	return app, ep
}

// endpoints of an app (a SAAS exposes the offer's endpoints).
func appEndpoints(st *state.State, app *state.App) (map[string]state.EndpointInfo, *state.Model, *state.App) {
	if app.Remote == nil {
		return app.Endpoints, nil, nil
	}
	om := st.Models[app.Remote.ModelUUID]
	if om == nil {
		return nil, nil, nil
	}
	oa := om.Apps[app.Remote.App]
	if oa == nil {
		return nil, nil, nil
	}
	res := map[string]state.EndpointInfo{}
	for ep := range app.Remote.Endpoints {
		res[ep] = oa.Endpoints[ep]
	}
	return res, om, oa
}

// Integrate relates two endpoints ("app" or "app:endpoint"); one may be a SAAS.
func (e *Engine) Integrate(ref ModelRef, a, b string) error { return e.IntegrateVia(ref, a, b, nil) }

// IntegrateVia relates a and b; via (juju integrate --via CIDRs) are the egress subnets of
// this model's units on a cross-model relation.
func (e *Engine) IntegrateVia(ref ModelRef, a, b string, via []string) error {
	for _, v := range via {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("invalid --via subnet %q: %v", v, err)
		}
	}
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		an, ae := splitEndpoint(a)
		bn, be := splitEndpoint(b)
		aa, ba := m.Apps[an], m.Apps[bn]
		if aa == nil {
			return fmt.Errorf("application %q not found", an)
		}
		if ba == nil {
			return fmt.Errorf("application %q not found", bn)
		}
		aeps, arm, ara := appEndpoints(st, aa)
		beps, brm, bra := appEndpoints(st, ba)
		type match struct{ ae, be string }
		var matches []match
		for _, x := range sortedKeys(aeps) {
			if ae != "" && x != ae {
				continue
			}
			for _, y := range sortedKeys(beps) {
				if be != "" && y != be {
					continue
				}
				xi, yi := aeps[x], beps[y]
				if xi.Interface != yi.Interface || xi.Role == "peer" || yi.Role == "peer" || xi.Role == yi.Role {
					continue
				}
				matches = append(matches, match{x, y})
			}
		}
		if len(matches) == 0 {
			return fmt.Errorf("no relations found")
		}
		if len(matches) > 1 {
			var opts []string
			for _, mt := range matches {
				opts = append(opts, fmt.Sprintf("%s:%s %s:%s", an, mt.ae, bn, mt.be))
			}
			return fmt.Errorf("ambiguous relation: %q could refer to %s", a+" "+b, strings.Join(opts, "; "))
		}
		mt := matches[0]
		sideFor := func(app *state.App, ep string, rm *state.Model, ra *state.App) *state.RelSide {
			if app.Remote != nil {
				return &state.RelSide{Model: rm.UUID, App: ra.Name, Endpoint: ep, Role: ra.Endpoints[ep].Role, AppData: map[string]string{}, Units: map[string]*state.RelUnit{}}
			}
			return &state.RelSide{Model: m.UUID, App: app.Name, Endpoint: ep, Role: app.Endpoints[ep].Role, AppData: map[string]string{}, Units: map[string]*state.RelUnit{}}
		}
		sa := sideFor(aa, mt.ae, arm, ara)
		sb := sideFor(ba, mt.be, brm, bra)
		for _, r := range st.Relations {
			if len(r.Sides) == 2 && !r.Dying {
				for _, pair := range [][2]*state.RelSide{{r.Sides[0], r.Sides[1]}, {r.Sides[1], r.Sides[0]}} {
					if pair[0].Model == sa.Model && pair[0].App == sa.App && pair[0].Endpoint == sa.Endpoint &&
						pair[1].Model == sb.Model && pair[1].App == sb.App && pair[1].Endpoint == sb.Endpoint {
						return fmt.Errorf("relation %s:%s %s:%s already exists", an, mt.ae, bn, mt.be)
					}
				}
			}
		}
		r := &state.Relation{Key: st.NextSeq(), Interface: aeps[mt.ae].Interface, Sides: []*state.RelSide{sa, sb}}
		r.CMR = aa.Remote != nil || ba.Remote != nil
		if len(via) > 0 && !r.CMR {
			return errors.New("--via applies to cross-model relations only")
		}
		if r.CMR {
			for _, s := range []*state.RelSide{sa, sb} {
				if s.Model == m.UUID {
					s.Via = via
				}
			}
		}
		// Aliases: how each side's app is known to the other side.
		sa.Alias, sb.Alias = sa.App, sb.App
		if aa.Remote != nil {
			sa.Alias = aa.Name // the consumer sees the offer under its SAAS name
			sb.Alias = "remote-" + strings.ReplaceAll(newUUID(), "-", "")
		}
		if ba.Remote != nil {
			sb.Alias = ba.Name
			sa.Alias = "remote-" + strings.ReplaceAll(newUUID(), "-", "")
		}
		// One relation has one id per model: both sides share it unless cross-model.
		ids := map[string]int{}
		for _, s := range r.Sides {
			id, ok := ids[s.Model]
			if !ok {
				sm := st.Models[s.Model]
				id = sm.NextRelation
				sm.NextRelation++
				ids[s.Model] = id
			}
			s.ID = id
		}
		st.Relations[r.Key] = r
		for _, s := range r.Sides {
			sm := st.Models[s.Model]
			for _, u := range sm.UnitsOf(s.App) {
				if u.Life != "alive" {
					continue
				}
				// Its scope follows relation-created (transition).
				u.Enqueue(state.Event{Kind: "relation-created", Rel: r.Key})
			}
		}
		return nil
	})
}

// RemoveRelation removes the relation between a and b.
func (e *Engine) RemoveRelation(ref ModelRef, a, b string) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		an, ae := splitEndpoint(a)
		bn, be := splitEndpoint(b)
		matchSide := func(s *state.RelSide, name, ep string) bool {
			seen := s.App
			if s.Model != m.UUID {
				// the other model's app is known here by a SAAS name
				for _, app := range m.Apps {
					if app.Remote != nil && app.Remote.ModelUUID == s.Model && app.Remote.App == s.App && app.Name == name {
						seen = name
					}
				}
			}
			return seen == name && (ep == "" || ep == s.Endpoint)
		}
		for _, r := range st.Relations {
			if len(r.Sides) != 2 || r.Dying {
				continue
			}
			if (matchSide(r.Sides[0], an, ae) && matchSide(r.Sides[1], bn, be)) || (matchSide(r.Sides[1], an, ae) && matchSide(r.Sides[0], bn, be)) {
				e.killRelation(st, r)
				return nil
			}
		}
		return fmt.Errorf("relation %q not found", a+" "+b)
	})
}

// killRelation makes r dying: departed for every seen unit, then broken, on both sides.
func (e *Engine) killRelation(st *state.State, r *state.Relation) {
	r.Dying = true
	for _, s := range r.Sides {
		sm := st.Models[s.Model]
		if sm == nil {
			continue
		}
		for _, name := range sortedUnitKeys(s.Units) {
			ru := s.Units[name]
			ru.InScope = false
		}
		for _, u := range sm.UnitsOf(s.App) {
			if u.Life != "alive" {
				continue // its own teardown departs and breaks every relation
			}
			ru := s.Units[u.Name]
			u.Drop(func(ev state.Event) bool {
				return ev.Rel == r.Key && (ev.Kind == "relation-joined" || ev.Kind == "relation-changed" || ev.Kind == "relation-created")
			})
			if ru == nil || !ru.Created {
				// relation-created never ran: nothing to break
				if ru != nil {
					ru.Broken = true
				}
				continue
			}
			for _, remote := range ru.Seen {
				enqueueOnce(u, state.Event{Kind: "relation-departed", Rel: r.Key, RemoteUnit: remote, Departing: remote})
			}
			if !r.Peer {
				enqueueOnce(u, state.Event{Kind: "relation-broken", Rel: r.Key})
			}
		}
	}
	e.maybeDeleteRelation(st, r)
}

// enqueueOnce queues ev unless the same relation event for the same remote unit is pending
// (a departure may already be queued by the remote unit's own teardown).
func enqueueOnce(u *state.Unit, ev state.Event) {
	for _, q := range u.Queue {
		if q.Kind == ev.Kind && q.Rel == ev.Rel && q.RemoteUnit == ev.RemoteUnit {
			return
		}
	}
	u.Enqueue(ev)
}
