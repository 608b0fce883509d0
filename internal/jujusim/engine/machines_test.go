package engine

import (
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// TestPlaceable checks the --to machines new units may go on (Juju's placement directive,
// cmd/juju/application/addunit.go UnitCommandBase.Init: one per unit, in order): an existing,
// booted, reachable machine hosting no unit, each named once. jujusim places one unit per
// machine, so a machine that hosts a unit is refused naming it.
func TestPlaceable(t *testing.T) {
	m := &state.Model{Machines: map[string]*state.Machine{
		"0": {ID: "0"},
		"1": {ID: "1", Unit: "pg/0"},
		"2": {ID: "2", Pending: true},
		"3": {ID: "3", Down: true},
		"4": {ID: "4", Partitioned: true},
		"5": {ID: "5"},
	}}
	for _, ok := range [][]string{nil, {"0"}, {"0", "5"}, {"5", "0"}} {
		if err := placeable(m, ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		to   []string
		want string
	}{
		{[]string{"9"}, "machine 9 not found"},
		{[]string{"1"}, "it hosts pg/0 (jujusim places one unit per machine"},
		{[]string{"0", "0"}, "it hosts another of the new units"},
		{[]string{"2"}, "still being provisioned"},
		{[]string{"3"}, "down or partitioned"},
		{[]string{"0", "4"}, "machine 4 is down or partitioned"},
	} {
		err := placeable(m, c.to)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.to, err, c.want)
		}
	}
}

// TestMachineStatusPending: a machine add-machine is still booting shows as Juju shows a
// machine being provisioned (agent pending, instance provisioning).
func TestMachineStatusPending(t *testing.T) {
	mc := &state.Machine{Pending: true}
	if got := mc.JujuStatus().Current; got != "pending" {
		t.Errorf("juju-status %q, want pending", got)
	}
	if got := mc.InstanceStatus().Current; got != "provisioning" {
		t.Errorf("machine-status %q, want provisioning", got)
	}
	mc.Pending = false
	if got := mc.JujuStatus().Current; got != "started" {
		t.Errorf("juju-status %q, want started", got)
	}
}
