package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

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
		// Machines that host no unit (add-machine) go with the model, as Juju's
		// destroy-model destroys every machine of it.
		for _, id := range sortedKeys(m.Machines) {
			mc := *m.Machines[id]
			delete(m.Machines, id)
			after = append(after, func() {
				if err := e.destroyMachine(ctx, mc); err != nil {
					e.logf(m, "", "ERROR", "juju.jujusim", "%v", err)
				}
			})
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
