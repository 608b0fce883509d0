package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/machine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// LeaseTime is how long a unit whose agent cannot reach the controller (machine crashed or
// partitioned) keeps leadership before another unit gets it, as Juju's leadership lease
// (one minute) expires. JUJUSIM_LEASE_TIME sets it (tests use seconds).
var LeaseTime = time.Minute

func init() {
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_LEASE_TIME")); err == nil && d > 0 {
		LeaseTime = d
	}
}

// FaultMachine is a machine that can be powered off, crashed and partitioned: a system
// machine (machine.System).
type FaultMachine interface {
	Machine
	Boot(ctx context.Context) error
	Poweroff(ctx context.Context) error
	Crash(ctx context.Context) error
	Partition(ctx context.Context) error
	Heal(ctx context.Context) error
}

// faultMachine finds a machine by id ("0") or by one of its units ("pg/0") in a model.
func (e *Engine) faultMachine(ref ModelRef, id string) (state.Machine, FaultMachine, error) {
	var mc state.Machine
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		if strings.Contains(id, "/") {
			u := m.Units[id]
			if u == nil {
				return fmt.Errorf("unit %q not found", id)
			}
			id = u.Machine
		}
		x := m.Machines[id]
		if x == nil {
			return fmt.Errorf("machine %q not found", id)
		}
		mc = *x
		return nil
	})
	if err != nil {
		return mc, nil, err
	}
	mach, err := e.loadMachine(&mc)
	if err != nil {
		return mc, nil, err
	}
	fm, ok := mach.(FaultMachine)
	if !ok {
		return mc, nil, fmt.Errorf("machine %s is a namespace machine, which cannot reboot, crash or be partitioned (use system machines: JUJUSIM_MACHINES=system)", mc.ID)
	}
	return mc, fm, nil
}

// updateMachine changes a machine's record and its units' in the model.
func (e *Engine) updateMachine(ref ModelRef, id string, f func(st *state.State, m *state.Model, mc *state.Machine, units []*state.Unit)) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		mc := m.Machines[id]
		if mc == nil {
			return fmt.Errorf("machine %q not found", id)
		}
		var units []*state.Unit
		for _, name := range m.SortedUnitNames() {
			if u := m.Units[name]; u.Machine == id {
				units = append(units, u)
			}
		}
		f(st, m, mc, units)
		return nil
	})
}

// lose shows a unit as Juju does when its agent stops talking to the controller
// (apiserver/facades/client/client/status: agent "lost", workload "unknown").
func lose(u *state.Unit, since time.Time) {
	if u.Lost != nil {
		return
	}
	u.Lost = &[2]state.Status{u.Workload, u.Agent}
	if u.Workload.Current != "error" {
		u.Workload = state.Status{Current: "unknown", Message: fmt.Sprintf("agent lost, see 'juju show-status-log %s'", u.Name), Since: since}
	}
	u.Agent = state.Status{Current: "lost", Message: "agent is not communicating with the server", Since: since}
}

// found undoes lose when the agent is back.
func found(u *state.Unit) {
	if u.Lost == nil {
		return
	}
	u.Workload, u.Agent = u.Lost[0], u.Lost[1]
	u.Lost = nil
}

// Reboot powers a machine off cleanly and boots it again on the same disk and volumes; its
// units then run `start`, as Juju's uniter does after a reboot.
func (e *Engine) Reboot(ctx context.Context, ref ModelRef, id string) error {
	mc, fm, err := e.faultMachine(ref, id)
	if err != nil {
		return err
	}
	// No hook may start while it is down.
	if err := e.updateMachine(ref, mc.ID, func(_ *state.State, _ *state.Model, x *state.Machine, _ []*state.Unit) {
		x.Down = true
		markLost(x, time.Now().UTC())
	}); err != nil {
		return err
	}
	if err := fm.Poweroff(ctx); err != nil {
		return fmt.Errorf("reboot machine %s: %w", mc.ID, err)
	}
	return e.bootMachine(ctx, ref, mc, fm)
}

// StartMachine boots a machine that crashed or was powered off, on the disk as it was left;
// its units run `start`.
func (e *Engine) StartMachine(ctx context.Context, ref ModelRef, id string) error {
	mc, fm, err := e.faultMachine(ref, id)
	if err != nil {
		return err
	}
	return e.bootMachine(ctx, ref, mc, fm)
}

func (e *Engine) bootMachine(ctx context.Context, ref ModelRef, mc state.Machine, fm FaultMachine) error {
	if err := fm.Boot(ctx); err != nil {
		return fmt.Errorf("start machine %s: %w", mc.ID, err)
	}
	return e.updateMachine(ref, mc.ID, func(_ *state.State, _ *state.Model, x *state.Machine, units []*state.Unit) {
		x.Down = false
		if !x.Partitioned {
			markFound(x)
		}
		for _, u := range units {
			if !x.Partitioned {
				found(u)
			}
			// The uniter runs start first when it comes back after a reboot.
			if u.Started && u.Life == "alive" && u.Failed == nil {
				u.Queue = append([]state.Event{{Kind: "start"}}, u.Queue...)
			}
		}
	})
}

// Crash kills a machine at once (SIGKILL of its PID 1): its units stay in the model, lost,
// and run no hooks until StartMachine.
func (e *Engine) Crash(ctx context.Context, ref ModelRef, id string) error {
	mc, fm, err := e.faultMachine(ref, id)
	if err != nil {
		return err
	}
	// Recorded first, so that a hook the crash kills is seen as interrupted, not failed.
	if err := e.updateMachine(ref, mc.ID, func(_ *state.State, _ *state.Model, x *state.Machine, units []*state.Unit) {
		now := time.Now().UTC()
		x.Down = true
		markLost(x, now)
		for _, u := range units {
			lose(u, now)
		}
	}); err != nil {
		return err
	}
	return fm.Crash(ctx)
}

// Partition cuts a machine's network both ways; its processes keep running, its units run no
// hooks (their agent cannot reach the controller) until Heal, and show as lost.
func (e *Engine) Partition(ctx context.Context, ref ModelRef, id string) error {
	mc, fm, err := e.faultMachine(ref, id)
	if err != nil {
		return err
	}
	if err := fm.Partition(ctx); err != nil {
		return err
	}
	return e.updateMachine(ref, mc.ID, func(_ *state.State, _ *state.Model, x *state.Machine, units []*state.Unit) {
		now := time.Now().UTC()
		x.Partitioned = true
		markLost(x, now)
		for _, u := range units {
			lose(u, now)
		}
	})
}

// Heal restores a partitioned machine's network; its units' held hooks then run.
func (e *Engine) Heal(ctx context.Context, ref ModelRef, id string) error {
	mc, fm, err := e.faultMachine(ref, id)
	if err != nil {
		return err
	}
	if err := fm.Heal(ctx); err != nil {
		return err
	}
	return e.updateMachine(ref, mc.ID, func(_ *state.State, _ *state.Model, x *state.Machine, units []*state.Unit) {
		x.Partitioned = false
		if !x.Down {
			markFound(x)
			for _, u := range units {
				found(u)
			}
		}
	})
}

// RemoveMachineForce removes a machine whose agent is gone, with its units, running none of
// their hooks (they cannot run): remote units see them depart, storage is detached and kept,
// and leadership moves on at once.
func (e *Engine) RemoveMachineForce(ctx context.Context, ref ModelRef, id string) error {
	var after []func()
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		if m.Machines[id] == nil {
			return fmt.Errorf("machine %q not found", id)
		}
		for _, name := range m.SortedUnitNames() {
			u := m.Units[name]
			if u.Machine != id {
				continue
			}
			if u.Life == "alive" {
				e.teardown(st, m, u)
			}
			u.Queue = nil
			u.Failed = nil
			after = append(after, e.finalizeUnit(st, m, u)...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// markLost records that a machine's agent stopped talking to the controller at now (unless
// it already had), and when its units' leadership leases lapse.
func markLost(mc *state.Machine, now time.Time) {
	if mc.LostSince.IsZero() {
		mc.LostSince = now
		mc.LeaseExpiry = now.Add(LeaseTime)
	}
}

// markFound undoes markLost: the agent is back and renews its leases.
func markFound(mc *state.Machine) {
	mc.LostSince, mc.LeaseExpiry = time.Time{}, time.Time{}
}

// leaseLapsed tells whether the leases of a machine's units have lapsed at now: its agent has
// been unreachable past LeaseExpiry (LostSince plus LeaseTime in states written before it).
func leaseLapsed(mc *state.Machine, now time.Time) bool {
	if mc.Reachable() {
		return false
	}
	exp := mc.LeaseExpiry
	if exp.IsZero() {
		exp = mc.LostSince.Add(LeaseTime)
	}
	return !now.Before(exp)
}

// ExpireLeases moves the leadership of units whose agent has been unreachable past their
// lease to another unit, which gets leader-elected (expireLeasesIn). jujusim has no
// controller process keeping a clock, so every command calls it: each CLI command as it
// starts, juju-exec and jujusim exec before their commands run (an agent's juju-exec on a
// surviving machine sees the new leadership: is-leader answers for it), and Settle before each
// hook it starts. The leader-elected hook runs in the Settle under way or the next one.
func (e *Engine) ExpireLeases() error {
	stale := false
	if err := e.Store.View(func(st *state.State) error {
		for _, m := range st.Models {
			for _, mc := range m.Machines {
				stale = stale || !mc.Reachable()
			}
		}
		return nil
	}); err != nil || !stale {
		return err
	}
	return e.Store.Update(func(st *state.State) error {
		e.expireLeasesIn(st)
		return nil
	})
}

// expireLeasesIn moves the leadership of each application whose leader's lease lapsed
// (leaseLapsed) to the lowest (or, under --seed, a random) live unit on a reachable machine,
// which gets leader-elected, as Juju's lease manager lets the lease of an agent that stopped
// renewing it expire and the next claimant's uniter runs leader-elected (worker/lease/manager.go,
// worker/leadership/tracker.go). An application with no such unit keeps its leader.
func (e *Engine) expireLeasesIn(st *state.State) {
	now := time.Now()
	for _, m := range st.SortedModels() {
		for _, name := range sortedKeys(m.Apps) {
			app := m.Apps[name]
			if app.Remote != nil || app.Leader == "" {
				continue
			}
			leader := m.Units[app.Leader]
			if leader == nil {
				continue
			}
			mc := m.Machines[leader.Machine]
			if mc == nil || !leaseLapsed(mc, now) {
				continue
			}
			var alive []*state.Unit
			for _, u := range m.UnitsOf(name) {
				if u.Life == "alive" && m.Machines[u.Machine].Reachable() {
					alive = append(alive, u)
				}
			}
			if len(alive) == 0 {
				continue
			}
			next := alive[0]
			if e.Seed != 0 {
				next = alive[e.rand().Intn(len(alive))]
			}
			app.Leader = next.Name
			next.Enqueue(state.Event{Kind: "leader-elected"})
			e.logf(m, next.Name, "INFO", "juju.worker.leadership", "leadership of %s moved from %s (agent lost for %s) to %s", name, leader.Name, now.Sub(mc.LostSince).Round(time.Second), next.Name)
		}
	}
}

// MachineExited is told (by the machine's keeper, machine.System.OnExit) that a machine's
// PID 1 ended without jujusim asking: after a `systemctl reboot` inside it (status
// machine.ExitReboot) it boots again and its units run `start`, as a cloud instance or LXD
// container reboots and Juju's uniter then runs start; after a poweroff or any other end it
// stays off, down, its units lost, until start-machine.
func (e *Engine) MachineExited(ctx context.Context, dir string, status int) error {
	var ref ModelRef
	var mc *state.Machine
	if err := e.Store.View(func(st *state.State) error {
		for _, m := range st.Models {
			for _, x := range m.Machines {
				if x.Dir == dir {
					ref, mc = ModelRef{Controller: m.Controller, Model: m.Name}, x
				}
			}
		}
		return nil
	}); err != nil || mc == nil {
		return err // a machine jujusim no longer knows (being removed): nothing to do
	}
	reboot := status == machine.ExitReboot
	if err := e.updateMachine(ref, mc.ID, func(_ *state.State, m *state.Model, x *state.Machine, units []*state.Unit) {
		now := time.Now().UTC()
		x.Down = true
		markLost(x, now)
		what := fmt.Sprintf("powered off from inside (PID 1 ended, status %d): it stays off until start-machine", status)
		if reboot {
			what = "rebooted from inside: booting it again"
		} else {
			for _, u := range units {
				lose(u, now)
			}
		}
		e.logf(m, x.Unit, "INFO", "juju.jujusim", "machine %s %s", x.ID, what)
	}); err != nil || !reboot {
		return err
	}
	_, fm, err := e.faultMachine(ref, mc.ID)
	if err != nil {
		return err
	}
	return e.bootMachine(ctx, ref, *mc, fm)
}
