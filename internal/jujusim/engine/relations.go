package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/juju/charm/v12"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
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
func (e *Engine) Integrate(ref ModelRef, a, b string) error {
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
		for i, s := range r.Sides {
			sm := st.Models[s.Model]
			for _, u := range sm.UnitsOf(s.App) {
				if u.Life != "alive" {
					continue
				}
				u.Enqueue(state.Event{Kind: "relation-created", Rel: r.Key})
				if u.Started {
					e.enterScope(st, r, i, u)
				}
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

// Offer makes endpoints of an application consumable: "model.app:ep[,ep]" and a name.
func (e *Engine) Offer(ref ModelRef, spec, name string) (string, error) {
	var msg string
	err := e.Store.Update(func(st *state.State) error {
		modelName := ""
		rest := spec
		if i := strings.IndexByte(spec, '.'); i >= 0 && strings.IndexByte(spec, ':') > i {
			modelName, rest = spec[:i], spec[i+1:]
		}
		r := ref
		if modelName != "" {
			if c, mn, ok := strings.Cut(modelName, ":"); ok {
				r = ModelRef{Controller: c, Model: mn}
			} else {
				r.Model = modelName
			}
		}
		m, err := model(st, r)
		if err != nil {
			return err
		}
		appName, eps, _ := strings.Cut(rest, ":")
		app := m.Apps[appName]
		if app == nil || app.Remote != nil {
			return fmt.Errorf("application %q not found", appName)
		}
		var endpoints []string
		for _, ep := range strings.Split(eps, ",") {
			if ep = strings.TrimSpace(ep); ep == "" {
				continue
			}
			info, ok := app.Endpoints[ep]
			if !ok || info.Role == "peer" {
				return fmt.Errorf("application %q has no %q relation", appName, ep)
			}
			endpoints = append(endpoints, ep)
		}
		if len(endpoints) == 0 {
			return errors.New("an offer needs at least one endpoint: MODEL.APP:ENDPOINT")
		}
		if name == "" {
			name = appName
		}
		if m.Offers[name] != nil {
			return fmt.Errorf("offer %q already exists", name)
		}
		m.Offers[name] = &state.Offer{Name: name, App: appName, Endpoints: endpoints}
		msg = fmt.Sprintf("Application %q endpoints [%s] available at %q", appName, strings.Join(endpoints, " "), "admin/"+m.Name+"."+name)
		return nil
	})
	return msg, err
}

// Consume adds a SAAS for "controller:owner/model.offer" to the model; returns the message.
func (e *Engine) Consume(ref ModelRef, url, alias string) (string, error) {
	var msg string
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		ctrl, rest, ok := strings.Cut(url, ":")
		if !ok {
			ctrl, rest = m.Controller, url
		}
		rest = strings.TrimPrefix(rest, "admin/")
		modelName, offerName, ok := strings.Cut(rest, ".")
		if !ok {
			return fmt.Errorf("invalid offer URL %q: want CONTROLLER:OWNER/MODEL.OFFER", url)
		}
		om := st.FindModel(ctrl, modelName)
		if om == nil {
			return fmt.Errorf("model %q not found", ctrl+":admin/"+modelName)
		}
		off := om.Offers[offerName]
		if off == nil {
			return fmt.Errorf("application offer %q not found", "admin/"+modelName+"."+offerName)
		}
		if alias == "" {
			alias = offerName
		}
		if m.Apps[alias] != nil {
			return fmt.Errorf("saas application %q already exists", alias)
		}
		oa := om.Apps[off.App]
		eps := map[string]string{}
		for _, ep := range off.Endpoints {
			eps[ep] = oa.Endpoints[ep].Interface
		}
		full := ctrl + ":admin/" + modelName + "." + offerName
		m.Apps[alias] = &state.App{Name: alias, Remote: &state.RemoteApp{URL: full, Controller: ctrl, ModelUUID: om.UUID, App: off.App, Offer: offerName, Endpoints: eps},
			Status: state.Status{Current: "active", Since: now()}}
		msg = fmt.Sprintf("Added %s as %s", full, alias)
		return nil
	})
	return msg, err
}

// ErrPersistentStorage is returned by DestroyModel without a storage flag.
type ErrPersistentStorage struct {
	Model             string
	Volumes, Filesyst int
}

func (e *ErrPersistentStorage) Error() string {
	return fmt.Sprintf(`cannot destroy model %q

The model has persistent storage remaining:
	%d volumes and %d filesystems

To destroy the storage, run the destroy-model
command again with the "--destroy-storage" flag.

To release the storage from Juju's management
without destroying it, use the "--release-storage"
flag instead. The storage can then be imported
into another Juju model.`, e.Model, e.Volumes, e.Filesyst)
}

// DestroyModel tears a model down through its units' hooks; storage is released (kept,
// importable) or destroyed.
func (e *Engine) DestroyModel(ctx context.Context, ref ModelRef, release, destroy bool) error {
	var uuid string
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		uuid = m.UUID
		if len(m.Storage) > 0 && !release && !destroy {
			return &ErrPersistentStorage{Model: m.Name, Volumes: len(m.Storage), Filesyst: len(m.Storage)}
		}
		m.Dying = true
		for _, u := range m.Units {
			if u.Life == "alive" {
				u.DestroySt = destroy
				e.teardown(st, m, u)
			}
		}
		for _, r := range st.Relations {
			for _, s := range r.Sides {
				if s.Model == m.UUID && !r.Dying && !r.Peer {
					e.killRelation(st, r)
					break
				}
			}
		}
		// Relations to SAAS apps consuming our offers from other models die too.
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.Settle(ctx); err != nil {
		return err
	}
	var after []func()
	err = e.Store.Update(func(st *state.State) error {
		m := st.Models[uuid]
		if m == nil {
			return nil
		}
		// Units stuck in error are removed without their hooks, as --force would.
		for _, name := range sortedKeys(m.Units) {
			after = append(after, e.finalizeUnit(st, m, m.Units[name])...)
		}
		for id, s := range m.Storage {
			v := st.Volumes[s.Volume]
			if v != nil {
				if destroy {
					dir := v.Dir
					after = append(after, func() { _ = os.RemoveAll(dir) })
					delete(st.Volumes, s.Volume)
				} else {
					v.Model = ""
				}
			}
			delete(m.Storage, id)
		}
		for k, r := range st.Relations {
			for _, s := range r.Sides {
				if s.Model == uuid {
					delete(st.Relations, k)
					break
				}
			}
		}
		delete(st.Models, uuid)
		if cur, _ := parseCurrent(st); cur.Controller == m.Controller && cur.Model == m.Name {
			st.Current = m.Controller + ":admin/"
		}
		return nil
	})
	for _, f := range after {
		f()
	}
	return err
}

// KillController destroys a controller's machines and network without running hooks.
func (e *Engine) KillController(ctx context.Context, name string) error {
	var dirs []string
	var bridge string
	err := e.Store.View(func(st *state.State) error {
		c := st.Controllers[name]
		if c == nil {
			return fmt.Errorf("controller %q not found", name)
		}
		bridge = c.Bridge
		for _, m := range st.Models {
			if m.Controller == name {
				for _, mc := range m.Machines {
					dirs = append(dirs, mc.Dir)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		mach, err := e.Host.Load(d)
		if err != nil {
			if _, serr := os.Stat(d); serr != nil {
				continue
			}
			errs = append(errs, err)
			continue
		}
		if err := mach.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.Host.RemoveNetwork(ctx, bridge); err != nil {
		errs = append(errs, err)
	}
	err = e.Store.Update(func(st *state.State) error {
		for id, m := range st.Models {
			if m.Controller != name {
				continue
			}
			for _, s := range m.Storage {
				if v := st.Volumes[s.Volume]; v != nil {
					v.Model = ""
				}
			}
			for k, r := range st.Relations {
				for _, s := range r.Sides {
					if s.Model == id {
						delete(st.Relations, k)
						break
					}
				}
			}
			delete(st.Models, id)
		}
		delete(st.Controllers, name)
		if c, _, _ := strings.Cut(st.Current, ":"); c == name {
			st.Current = ""
		}
		return nil
	})
	errs = append(errs, err)
	return errors.Join(errs...)
}

// KillAll removes every machine, bridge and mount this home made, and resets the state.
func (e *Engine) KillAll(ctx context.Context) error {
	err := e.Host.CleanupAll(ctx, filepath.Join(e.Home, "machines"), e.BridgePrefix())
	uerr := e.Store.Update(func(st *state.State) error {
		for _, v := range st.Volumes {
			v.Model = ""
		}
		st.Controllers = map[string]*state.Controller{}
		st.Models = map[string]*state.Model{}
		st.Relations = map[int]*state.Relation{}
		st.Contexts = map[string]*state.HookContext{}
		st.Current = ""
		return nil
	})
	return errors.Join(err, uerr)
}

// Exec runs a command in a unit's machine as root, with stdio attached.
func (e *Engine) Exec(ctx context.Context, ref ModelRef, unitName string, argv []string, stdio [3]*os.File) (int, error) {
	var mc state.Machine
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			// juju ssh also accepts a machine number
			if x := m.Machines[unitName]; x != nil {
				mc = *x
				return nil
			}
			return fmt.Errorf("unit %q not found", unitName)
		}
		x := m.Machines[u.Machine]
		if x == nil {
			return fmt.Errorf("unit %q has no machine", unitName)
		}
		mc = *x
		return nil
	})
	if err != nil {
		return 1, err
	}
	mach, err := e.loadMachine(&mc)
	if err != nil {
		return 1, err
	}
	if len(argv) == 0 {
		argv = []string{"/bin/bash", "-l"}
	}
	cmd := mach.Command(ctx, "/usr/bin/env", append([]string{"-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "USER=root", "LANG=C.UTF-8", "TERM=" + envOr("TERM", "xterm")}, argv...)...)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	err = cmd.Run()
	if err != nil {
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 1, err
	}
	return 0, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// EnqueueAction validates params against actions.yaml (with defaults) and queues the
// action; returns its id.
func (e *Engine) EnqueueAction(ref ModelRef, unitName, name string, params map[string]any) (string, error) {
	var charmDir string
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		charmDir = m.Apps[u.App].CharmDir
		return nil
	})
	if err != nil {
		return "", err
	}
	spec, err := actionSpec(charmDir, name)
	if err != nil {
		return "", err
	}
	if params == nil {
		params = map[string]any{}
	}
	if err := spec.ValidateParams(params); err != nil {
		return "", err
	}
	full, err := spec.InsertDefaults(params)
	if err != nil {
		return "", err
	}
	var id string
	err = e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		m.NextAction++
		id = strconv.Itoa(m.NextAction)
		m.Actions[id] = &state.Action{ID: id, Unit: unitName, Name: name, Params: jsonable(full), Status: "pending", Enqueued: now()}
		// Juju runs pending actions before pending relation hooks, once the unit started.
		ev := state.Event{Kind: "action", Action: id}
		pos := 0
		if u.Failed != nil {
			pos = 1
		}
		for i, q := range u.Queue {
			if q.Kind == "start" {
				pos = i + 1
			}
		}
		pos = min(pos, len(u.Queue))
		u.Queue = append(u.Queue[:pos], append([]state.Event{ev}, u.Queue[pos:]...)...)
		return nil
	})
	return id, err
}

// jsonable converts YAML-decoded maps (map[interface{}]interface{}) to map[string]any.
func jsonable(v map[string]any) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		out[k] = fixValue(x)
	}
	return out
}

func fixValue(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, y := range x {
			m[fmt.Sprint(k)] = fixValue(y)
		}
		return m
	case map[string]any:
		return jsonable(x)
	case []any:
		for i := range x {
			x[i] = fixValue(x[i])
		}
		return x
	}
	return v
}

// ParseActionParams parses k=v arguments: dotted keys nest, values are YAML.
func ParseActionParams(args []string) (map[string]any, error) {
	res := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q must be of the form key...=value", a)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
			val = v
		}
		if _, isMap := val.(map[any]any); isMap {
			val = v
		}
		keys := strings.Split(k, ".")
		cur := res
		for _, key := range keys[:len(keys)-1] {
			next, ok := cur[key].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[key] = next
			}
			cur = next
		}
		cur[keys[len(keys)-1]] = fixValue(val)
	}
	return res, nil
}

// Action returns an action record.
func (e *Engine) Action(ref ModelRef, id string) (state.Action, error) {
	var a state.Action
	err := e.Store.View(func(st *state.State) error {
		for _, m := range st.Models {
			if x := m.Actions[id]; x != nil {
				if ref.Model == "" || m.Name == ref.Model {
					a = *x
					return nil
				}
			}
		}
		return fmt.Errorf("action %q not found", id)
	})
	return a, err
}

var _ = sort.Strings
var _ = charm.ReadCharmDir

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
