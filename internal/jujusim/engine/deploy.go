package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/juju/charm/v12"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// DeployArgs are `jujusim deploy` arguments.
type DeployArgs struct {
	Charm         string
	App           string
	N             int
	Storage       map[string]string // name -> "pool,size"
	AttachStorage []string
	Config        map[string]string // k=v strings
	ConfigFile    string
	// To places units, in order, on existing empty machines (juju deploy --to 3,4); units
	// beyond the list get new machines.
	To []string
}

// provision is a unit whose machine must be created outside the state lock.
type provision struct {
	model    string
	unit     string
	mc       state.Machine
	ctrl     state.Controller
	charmDir string
	attach   []attachment
	// placed: the unit goes on an existing machine (--to), which is already booted.
	placed bool
}

type attachment struct {
	storage, src, dst string
}

func now() time.Time { return time.Now().UTC() }

// Deploy deploys a charm as an application with N units.
func (e *Engine) Deploy(ctx context.Context, ref ModelRef, a DeployArgs) error {
	if a.N < 1 {
		a.N = 1
	}
	var seq int
	if err := e.Store.Update(func(st *state.State) error { seq = st.NextSeq(); return nil }); err != nil {
		return err
	}
	tmpDest := charmStoreDir(e.Home, "pending", seq)
	ch, err := loadCharm(a.Charm, tmpDest)
	if err != nil {
		return err
	}
	if a.App == "" {
		a.App = ch.Meta().Name
	}
	dest := charmStoreDir(e.Home, a.App, seq)
	if err := os.Rename(tmpDest, dest); err != nil {
		return fmt.Errorf("store charm: %w", err)
	}
	var settings charm.Settings
	if a.ConfigFile != "" {
		if settings, err = parseConfigFile(ch, a.App, a.ConfigFile); err != nil {
			return err
		}
	}
	if len(a.Config) > 0 {
		s, err := parseConfigArgs(ch, a.Config)
		if err != nil {
			return err
		}
		if settings == nil {
			settings = charm.Settings{}
		}
		for k, v := range s {
			settings[k] = v
		}
	}
	if len(a.AttachStorage) > 0 && a.N != 1 {
		return errors.New("--attach-storage cannot be used with -n")
	}
	var jobs []provision
	err = e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		if m.Apps[a.App] != nil {
			return fmt.Errorf("cannot add application %q: application already exists", a.App)
		}
		app := &state.App{Name: a.App, CharmDir: dest, Revision: 0, Config: map[string]any{},
			Status: state.Status{Current: "unknown", Since: now()}, Storage: map[string]state.StorageDirective{}}
		charmFacts(app, ch)
		for k, v := range settings {
			app.Config[k] = v
		}
		for name, v := range a.Storage {
			sm, ok := app.StorageMeta[name]
			if !ok {
				return fmt.Errorf("charm %q has no storage called %q", app.CharmName, name)
			}
			d, err := parseStorageDirective(v)
			if err != nil {
				return fmt.Errorf("cannot parse storage %q: %w", v, err)
			}
			if d.Count == 0 {
				d.Count = max(1, sm.CountMin)
			}
			app.Storage[name] = d
		}
		for name, sm := range app.StorageMeta {
			d := app.Storage[name]
			if _, ok := a.Storage[name]; !ok {
				d.Count = sm.CountMin
			}
			if d.Pool == "" {
				d.Pool = "rootfs"
			}
			if d.SizeMiB == 0 {
				d.SizeMiB = max(1024, sm.MinMiB)
			}
			app.Storage[name] = d
		}
		m.Apps[a.App] = app
		// Peer relations exist from deployment.
		for _, ep := range sortedKeys(app.Endpoints) {
			info := app.Endpoints[ep]
			if info.Role != "peer" {
				continue
			}
			m.NextRelation++
			key := st.NextSeq()
			st.Relations[key] = &state.Relation{Key: key, Interface: info.Interface, Peer: true, Sides: []*state.RelSide{{
				Model: m.UUID, App: a.App, Endpoint: ep, Role: "peer", ID: m.NextRelation - 1, Alias: a.App,
				AppData: map[string]string{}, Units: map[string]*state.RelUnit{},
			}}}
		}
		jobs, err = e.addUnits(st, m, app, a.N, a.AttachStorage, a.To)
		return err
	})
	if err != nil {
		return err
	}
	return e.provision(ctx, jobs)
}

// AddUnit adds n units to an application, the first ones on the machines of to (--to).
func (e *Engine) AddUnit(ctx context.Context, ref ModelRef, appName string, n int, attach, to []string) error {
	if n < 1 {
		n = 1
	}
	var jobs []provision
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		app := m.Apps[appName]
		if app == nil || app.Remote != nil {
			return fmt.Errorf("application %q not found", appName)
		}
		jobs, err = e.addUnits(st, m, app, n, attach, to)
		return err
	})
	if err != nil {
		return err
	}
	return e.provision(ctx, jobs)
}

func (e *Engine) newVolume(st *state.State, m *state.Model, pool string, size int) (*state.Volume, error) {
	id := "vol-" + randHex(17)
	dir := filepath.Join(e.Home, "volumes", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	v := &state.Volume{ProviderID: id, Dir: dir, Pool: pool, SizeMiB: size, Model: m.UUID}
	st.Volumes[id] = v
	return v, nil
}

func storageLocation(sm state.StorageMeta, id string) string {
	if sm.CountMax == 1 {
		return sm.Location
	}
	name, n := state.SplitUnit(id)
	return filepath.Join(sm.Location, fmt.Sprintf("%s-%d", name, n))
}

// addUnits creates unit, machine and storage records (under the state lock). The first
// units go on the machines of to, in order (checked by placeable); the others get new ones.
func (e *Engine) addUnits(st *state.State, m *state.Model, app *state.App, n int, attach, to []string) ([]provision, error) {
	ctrl := st.Controllers[m.Controller]
	if ctrl == nil || ctrl.HostAddr == "" {
		return nil, fmt.Errorf("controller %q has no network (bootstrap failed?)", m.Controller)
	}
	if err := placeable(m, to); err != nil {
		return nil, err
	}
	for _, id := range attach {
		s := m.Storage[id]
		if s == nil {
			return nil, fmt.Errorf("storage %q not found", id)
		}
		if s.Unit != "" {
			return nil, fmt.Errorf("storage %q is attached to %s", id, s.Unit)
		}
		if _, ok := app.StorageMeta[s.Name]; !ok {
			return nil, fmt.Errorf("charm %q has no storage called %q", app.CharmName, s.Name)
		}
	}
	var jobs []provision
	for i := 0; i < n; i++ {
		unitName := fmt.Sprintf("%s/%d", app.Name, app.NextUnit)
		app.NextUnit++
		var mc *state.Machine
		if i < len(to) {
			mc = m.Machines[to[i]]
		} else {
			var err error
			if mc, err = e.newMachine(m, ctrl); err != nil {
				return nil, err
			}
		}
		mc.Unit = unitName
		u := &state.Unit{Name: unitName, App: app.Name, Machine: mc.ID, Life: "alive",
			Workload: state.Status{Current: "waiting", Message: "waiting for machine", Since: now()},
			Agent:    state.Status{Current: "allocating", Since: now()}}
		m.Units[unitName] = u
		job := provision{model: m.UUID, unit: unitName, mc: *mc, ctrl: *ctrl, charmDir: app.CharmDir, placed: i < len(to)}
		have := map[string]int{}
		if i == 0 {
			for _, id := range attach {
				s := m.Storage[id]
				sm := app.StorageMeta[s.Name]
				s.Unit, s.Location, s.Kind = unitName, storageLocation(sm, id), sm.Kind
				s.Status = "pending"
				have[s.Name]++
				job.attach = append(job.attach, attachment{id, st.Volumes[s.Volume].Dir, s.Location})
			}
		}
		for _, name := range sortedKeys(app.Storage) {
			d := app.Storage[name]
			sm := app.StorageMeta[name]
			for c := have[name]; c < d.Count; c++ {
				v, err := e.newVolume(st, m, d.Pool, d.SizeMiB)
				if err != nil {
					return nil, err
				}
				id := fmt.Sprintf("%s/%d", name, m.NextStorage[name])
				m.NextStorage[name]++
				fs := strconv.Itoa(m.NextFilesystem)
				m.NextFilesystem++
				s := &state.Storage{ID: id, Name: name, Kind: sm.Kind, Pool: d.Pool, SizeMiB: d.SizeMiB, Volume: v.ProviderID,
					Filesystem: fs, Unit: unitName, Location: storageLocation(sm, id), Status: "pending"}
				m.Storage[id] = s
				job.attach = append(job.attach, attachment{id, v.Dir, s.Location})
			}
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	bits := p.Bits()
	for i := bits; i < 32; i++ {
		a[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom4(a)
}

// AgentDir is a unit's agent directory inside its machine.
func AgentDir(unit string) string {
	return "/var/lib/juju/agents/unit-" + strings.ReplaceAll(unit, "/", "-")
}

// provision creates machines, installs the charm, attaches storage, then queues the
// units' first hooks.
func (e *Engine) provision(ctx context.Context, jobs []provision) error {
	var errs []error
	var ok []provision
	for _, j := range jobs {
		if err := e.provisionOne(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("provision %s: %w", j.unit, err))
			_ = e.Store.Update(func(st *state.State) error {
				if u := st.Unit(j.model, j.unit); u != nil {
					u.Agent = state.Status{Current: "failed", Message: err.Error(), Since: now()}
				}
				return nil
			})
			continue
		}
		ok = append(ok, j)
	}
	err := e.Store.Update(func(st *state.State) error {
		// The first unit whose agent claims the lease leads: the lowest unit by default,
		// any of the new ones under --seed.
		if len(ok) > 0 && e.Seed != 0 {
			j := ok[e.rand().Intn(len(ok))]
			m := st.Models[j.model]
			if u := m.Units[j.unit]; u != nil && m.Apps[u.App] != nil && m.Apps[u.App].Leader == "" {
				m.Apps[u.App].Leader = u.Name
			}
		}
		for _, j := range ok {
			m := st.Models[j.model]
			u := m.Units[j.unit]
			app := m.Apps[u.App]
			var evs []state.Event
			for _, at := range j.attach {
				if s := m.Storage[at.storage]; s != nil {
					s.Status = "attached"
					evs = append(evs, state.Event{Kind: "storage-attached", Storage: at.storage})
				}
			}
			u.Workload = state.Status{Current: "waiting", Message: "agent initialising", Since: now()}
			evs = append(evs, state.Event{Kind: "install"})
			for _, r := range st.RelationsOfApp(m.UUID, u.App) {
				if !r.Dying {
					evs = append(evs, state.Event{Kind: "relation-created", Rel: r.Key})
				}
			}
			if app.Leader == "" {
				app.Leader = u.Name
			}
			if app.Leader == u.Name {
				evs = append(evs, state.Event{Kind: "leader-elected"})
			} else {
				evs = append(evs, state.Event{Kind: "leader-settings-changed"})
			}
			evs = append(evs, state.Event{Kind: "config-changed"}, state.Event{Kind: "start"})
			for _, ev := range evs {
				u.Enqueue(ev)
			}
			u.Agent = state.Status{Current: "idle", Since: now()}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (e *Engine) provisionOne(ctx context.Context, j provision) error {
	var mach Machine
	var err error
	if j.placed {
		mach, err = e.loadMachine(&j.mc)
	} else {
		mach, err = e.createMachine(ctx, j.mc, j.ctrl)
	}
	if err != nil {
		return err
	}
	agent := AgentDir(j.unit)
	script := `set -e; mkdir -p "$1"; rm -rf "$1/charm"; cp -a "$2" "$1/charm"`
	if out, err := mach.Command(ctx, "/bin/sh", "-c", script, "sh", agent, j.charmDir).CombinedOutput(); err != nil {
		return fmt.Errorf("install charm in %s: %w: %s", j.mc.Hostname, err, strings.TrimSpace(string(out)))
	}
	if err := e.installAgent(ctx, mach, j.model, j.unit); err != nil {
		return fmt.Errorf("install agent in %s: %w", j.mc.Hostname, err)
	}
	for _, at := range j.attach {
		if err := mach.Attach(at.src, at.dst); err != nil {
			return fmt.Errorf("attach %s: %w", at.storage, err)
		}
	}
	return nil
}

func sortedUnitKeys[V any](m map[string]V) []string {
	ks := sortedKeys(m)
	sort.Slice(ks, func(i, j int) bool { return state.UnitLess(ks[i], ks[j]) })
	return ks
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Elect makes unit the leader of its application.
func (e *Engine) Elect(ref ModelRef, unitName string) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil || u.Removed || u.Life != "alive" {
			return fmt.Errorf("unit %q not found", unitName)
		}
		app := m.Apps[u.App]
		if app.Leader == unitName {
			return nil
		}
		old := m.Units[app.Leader]
		app.Leader = unitName
		u.Enqueue(state.Event{Kind: "leader-elected"})
		if old != nil && !old.Removed && old.Installed {
			old.Enqueue(state.Event{Kind: "leader-settings-changed"})
		}
		return nil
	})
}

// Config returns the app, its charm and effective settings (for `jujusim config APP`).
func (e *Engine) App(ref ModelRef, appName string) (state.App, error) {
	var app state.App
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		a := m.Apps[appName]
		if a == nil {
			return fmt.Errorf("application %q not found", appName)
		}
		app = *a
		return nil
	})
	return app, err
}

// SetConfig changes application settings (k=v strings, a juju config file, resets) and
// queues config-changed when the effective config changed.
func (e *Engine) SetConfig(ref ModelRef, appName string, kv map[string]string, file string, reset []string) error {
	app, err := e.App(ref, appName)
	if err != nil {
		return err
	}
	if app.Remote != nil {
		return fmt.Errorf("application %q is a remote application", appName)
	}
	ch, err := readCharm(app.CharmDir)
	if err != nil {
		return err
	}
	settings := charm.Settings{}
	if file != "" {
		s, err := parseConfigFile(ch, appName, file)
		if err != nil {
			return err
		}
		for k, v := range s {
			settings[k] = v
		}
	}
	if len(kv) > 0 {
		s, err := parseConfigArgs(ch, kv)
		if err != nil {
			return err
		}
		for k, v := range s {
			settings[k] = v
		}
	}
	for _, k := range reset {
		if _, ok := ch.Config().Options[k]; !ok {
			return fmt.Errorf("unknown option %q", k)
		}
	}
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		a := m.Apps[appName]
		if a == nil {
			return fmt.Errorf("application %q not found", appName)
		}
		before := fmt.Sprint(a.Config)
		if a.Config == nil {
			a.Config = map[string]any{}
		}
		for k, v := range settings {
			if v == nil {
				delete(a.Config, k)
			} else {
				a.Config[k] = v
			}
		}
		for _, k := range reset {
			delete(a.Config, k)
		}
		if fmt.Sprint(a.Config) == before {
			return nil
		}
		for _, u := range m.UnitsOf(appName) {
			if u.Life == "alive" {
				u.Enqueue(state.Event{Kind: "config-changed"})
			}
		}
		return nil
	})
}

// ImportFilesystem registers a released volume in a model; returns the storage id.
func (e *Engine) ImportFilesystem(ref ModelRef, pool, providerID, name string) (string, error) {
	var id string
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		v := st.Volumes[providerID]
		if v == nil {
			return fmt.Errorf("importing filesystem %q: filesystem not found", providerID)
		}
		if v.Model != "" {
			return fmt.Errorf("importing filesystem %q: filesystem is managed by a model; release it first (destroy-model --release-storage)", providerID)
		}
		v.Model = m.UUID
		v.Pool = pool
		id = fmt.Sprintf("%s/%d", name, m.NextStorage[name])
		m.NextStorage[name]++
		fs := strconv.Itoa(m.NextFilesystem)
		m.NextFilesystem++
		m.Storage[id] = &state.Storage{ID: id, Name: name, Kind: "filesystem", Pool: pool, SizeMiB: v.SizeMiB, Volume: providerID, Filesystem: fs, Status: "detached"}
		return nil
	})
	return id, err
}
