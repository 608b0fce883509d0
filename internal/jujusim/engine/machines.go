package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pgcharm/postgresql/internal/jujusim/image"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// Empty machines (juju add-machine), placement on them (deploy/add-unit --to) and
// remove-machine. jujusim places one unit per machine: units of one machine would share its
// address and ports (two PostgreSQL servers on 5432), so a machine that hosts a unit is
// refused as a target rather than co-located as Juju would.

// newMachine makes the record of a new machine with the next id and the next free address in
// the controller's subnet (under the state lock); it hosts no unit yet.
func (e *Engine) newMachine(m *state.Model, ctrl *state.Controller) (*state.Machine, error) {
	subnet := netip.MustParsePrefix(ctrl.Subnet)
	addr := subnet.Addr()
	for k := 0; k < ctrl.NextHost; k++ {
		addr = addr.Next()
	}
	ctrl.NextHost++
	if !subnet.Contains(addr) || addr == lastAddr(subnet) {
		return nil, fmt.Errorf("controller %q subnet %s is full", ctrl.Name, ctrl.Subnet)
	}
	mid := strconv.Itoa(m.NextMachine)
	m.NextMachine++
	host := fmt.Sprintf("juju-%s-%s", m.UUID[:6], mid)
	mc := &state.Machine{ID: mid, Dir: e.machineDir(m, mid), Addr: addr.String(), Prefix: subnet.Bits(), Hostname: host, Instance: host}
	if pub, bits := publicAddr(ctrl, addr); pub.IsValid() {
		mc.PublicAddr, mc.PublicPrefix = pub.String(), bits
	}
	m.Machines[mid] = mc
	return mc, nil
}

// createMachine boots a machine for its record (outside the state lock): Host.Create waits
// for systemd to finish booting, so deploy, add-unit and add-machine all return booted machines.
func (e *Engine) createMachine(ctx context.Context, mc state.Machine, ctrl state.Controller) (Machine, error) {
	spec := MachineSpec{Dir: mc.Dir, Hostname: mc.Hostname, Bridge: ctrl.Bridge,
		Addr:    netip.PrefixFrom(netip.MustParseAddr(mc.Addr), mc.Prefix),
		Gateway: netip.MustParseAddr(ctrl.HostAddr)}
	mach, err := e.Host.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	e.cacheMachine(mc.Dir, mach)
	if err := plugPublic(ctx, mach, mc, ctrl.PublicHostAddr); err != nil {
		return mach, err
	}
	return mach, nil
}

// placeable checks the --to machines of new units: each an existing machine of the model,
// booted, reachable, hosting no unit, and named once.
func placeable(m *state.Model, to []string) error {
	seen := map[string]bool{}
	for _, id := range to {
		mc := m.Machines[id]
		switch {
		case mc == nil:
			return fmt.Errorf("cannot place unit on machine %s: machine %s not found", id, id)
		case seen[id] || mc.Unit != "":
			host := mc.Unit
			if host == "" {
				host = "another of the new units"
			}
			return fmt.Errorf("cannot place unit on machine %s: it hosts %s (jujusim places one unit per machine; add-machine makes an empty one)", id, host)
		case mc.Pending:
			return fmt.Errorf("cannot place unit on machine %s: machine %s is still being provisioned", id, id)
		case !mc.Reachable():
			return fmt.Errorf("cannot place unit on machine %s: machine %s is down or partitioned", id, id)
		}
		seen[id] = true
	}
	return nil
}

// AddMachines makes n empty machines (juju add-machine -n N --base B; cmd/juju/machine/add.go)
// and boots them, each as deploy boots a unit's machine. It returns the ids of the machines
// made, in order, and the errors of those that failed, whose records are removed.
func (e *Engine) AddMachines(ctx context.Context, ref ModelRef, n int, base string) ([]string, error) {
	if n < 1 {
		n = 1
	}
	if base != "" && base != image.DefaultBase {
		return nil, fmt.Errorf("base %q is not supported: jujusim machines are %s", base, image.DefaultBase)
	}
	var mcs []state.Machine
	var ctrl state.Controller
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		c := st.Controllers[m.Controller]
		if c == nil || c.HostAddr == "" {
			return fmt.Errorf("controller %q has no network (bootstrap failed?)", m.Controller)
		}
		for i := 0; i < n; i++ {
			mc, err := e.newMachine(m, c)
			if err != nil {
				return err
			}
			mc.Pending = true
			mcs = append(mcs, *mc)
		}
		ctrl = *c
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, mc := range mcs {
		mach, cerr := e.createMachine(ctx, mc, ctrl)
		err := e.Store.Update(func(st *state.State) error {
			m, err := model(st, ref)
			if err != nil {
				return err
			}
			if x := m.Machines[mc.ID]; x != nil {
				if cerr != nil {
					delete(m.Machines, mc.ID)
				} else {
					x.Pending = false
				}
			}
			return nil
		})
		if cerr != nil {
			if mach != nil {
				_ = mach.Destroy(context.Background())
			} else if mach, lerr := e.Host.Load(mc.Dir); lerr == nil {
				_ = mach.Destroy(context.Background())
			}
			e.forgetMachine(mc.Dir)
			errs = append(errs, fmt.Errorf("machine %s: %w", mc.ID, cerr))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, mc.ID)
	}
	return ids, errors.Join(errs...)
}

// HasUnitsError is remove-machine's refusal of a machine with units, worded as Juju's
// (state/machine.go HasAssignedUnitsError).
type HasUnitsError struct{ Machine, Unit string }

func (e *HasUnitsError) Error() string {
	return fmt.Sprintf("machine %s has unit %q assigned", e.Machine, e.Unit)
}

// RemoveMachine removes a machine. One that hosts a unit is refused (HasUnitsError) unless
// force, which removes its units without their hooks (RemoveMachineForce), as
// `juju remove-machine --force` does; an empty one is destroyed at once.
func (e *Engine) RemoveMachine(ctx context.Context, ref ModelRef, id string, force bool) error {
	var empty *state.Machine
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		mc := m.Machines[id]
		if mc == nil {
			return fmt.Errorf("machine %s not found", id)
		}
		for _, name := range m.SortedUnitNames() {
			if m.Units[name].Machine == id {
				if !force {
					return &HasUnitsError{Machine: id, Unit: name}
				}
				return nil
			}
		}
		if mc.Pending {
			return fmt.Errorf("machine %s is still being provisioned", id)
		}
		c := *mc
		empty = &c
		delete(m.Machines, id)
		return nil
	})
	if err != nil {
		return err
	}
	if empty == nil {
		return e.RemoveMachineForce(ctx, ref, id)
	}
	return e.destroyMachine(ctx, *empty)
}

// destroyMachine ends a machine whose record is gone: its processes, mounts, network and
// upper directory.
func (e *Engine) destroyMachine(ctx context.Context, mc state.Machine) error {
	mach, err := e.loadMachine(&mc)
	if err != nil {
		return fmt.Errorf("load machine %s: %w", mc.ID, err)
	}
	defer e.forgetMachine(mc.Dir)
	if err := mach.Destroy(ctx); err != nil {
		return fmt.Errorf("destroy machine %s: %w", mc.ID, err)
	}
	return nil
}
