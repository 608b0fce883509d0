package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestAddMachinePlacement drives empty machines as Juju 3.6 does. add-machine
// (cmd/juju/machine/add.go: "created machine N" on stderr for each) boots a system machine as
// deploy does, listed under Machines; deploy and add-unit --to (cmd/juju/application/addunit.go
// UnitCommandBase.Init, deploy takes the same: a comma-separated list, one directive per unit in
// order, the rest on new machines) put a unit on it; remove-machine (cmd/juju/machine/remove.go)
// refuses a machine with a unit (state/machine.go HasAssignedUnitsError) and removes an empty
// one; the last unit's removal takes its machine with it, placed or not (state/unit.go
// destroyHostOps); destroy-model ends the empty machines too.
func TestAddMachinePlacement(t *testing.T) {
	s := simtest.New(t)
	s.SystemMachines()
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	_, stderr, err := s.RunE("add-machine", "-n", "2")
	if err != nil || stderr != "created machine 0\ncreated machine 1\n" {
		t.Fatalf("add-machine -n 2: %v, stderr %q", err, stderr)
	}
	st := s.Status("")
	for _, id := range []string{"0", "1"} {
		if mc, ok := st.Machines[id]; !ok || mc.JujuStatus.Current != "started" || len(mc.IPAddresses) == 0 {
			t.Errorf("machine %s in status: %+v (listed %v), want started with an address", id, mc, ok)
		}
	}
	if len(st.Applications) != 0 {
		t.Errorf("applications after add-machine: %v", st.Applications)
	}
	if !regexp.MustCompile(`(?m)^1 +started +\S+ +juju-\S+-1 +debian@12`).MatchString(s.Run("status")) {
		t.Errorf("tabular status does not list machine 1 as started")
	}
	// Booted as a unit's machine is: systemd is PID 1 and has finished booting.
	if got := strings.TrimSpace(s.Run("ssh", "1", "cat /proc/1/comm; systemctl is-system-running")); got != "systemd\nrunning" {
		t.Fatalf("empty machine 1: %q, want systemd running", got)
	}
	s.Run("ssh", "1", "echo before > /root/placed")

	t.Run("deploy --to", func(t *testing.T) {
		s.Run("deploy", ch, "rec", "--to", "1")
		st := s.Status("")
		u := st.Applications["rec"].Units["rec/0"]
		if u.Machine != "1" || u.Agent.Current != "idle" || u.Address != st.Machines["1"].IPAddresses[0] {
			t.Fatalf("rec/0: machine %q agent %+v address %s, want machine 1 (%v) idle", u.Machine, u.Agent, u.Address, st.Machines["1"].IPAddresses)
		}
		if got := strings.TrimSpace(s.Exec("rec/0", "cat", "/root/placed")); got != "before" {
			t.Errorf("rec/0 does not run on the machine add-machine made: %q", got)
		}
		if hs := hooks(records(t, s, "", "rec/0")); indexOf(hs, "install") != 0 || indexOf(hs, "start") < 0 {
			t.Errorf("rec/0's hooks: %v, want install first and start", hs)
		}
		if len(st.Machines) != 2 {
			t.Errorf("machines after deploy --to: %v, want 0 and 1", st.Machines)
		}
	})

	t.Run("refused placements", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"add-unit", "rec", "--to", "1"}, "cannot place unit on machine 1: it hosts rec/0"},
			{[]string{"add-unit", "rec", "--to", "7"}, "machine 7 not found"},
			{[]string{"add-unit", "rec", "--to", "lxd:0"}, `invalid --to parameter "lxd:0"`},
			{[]string{"add-unit", "rec", "-n", "2", "--to", "0,0"}, "it hosts another of the new units"},
			{[]string{"add-machine", "--base", "ubuntu@22.04"}, `base "ubuntu@22.04" is not supported`},
		} {
			if _, stderr, err := s.RunE(c.args...); err == nil || !strings.Contains(stderr, c.want) {
				t.Errorf("%v: %v %q, want an error with %q", c.args, err, stderr, c.want)
			}
		}
		if st := s.Status(""); len(st.Applications["rec"].Units) != 1 || len(st.Machines) != 2 {
			t.Errorf("a refused placement left units %v machines %v", st.Applications["rec"].Units, st.Machines)
		}
	})

	t.Run("add-unit --to and new machines", func(t *testing.T) {
		s.Run("add-unit", "rec", "-n", "2", "--to", "0")
		st := s.Status("")
		if m1, m2 := st.Applications["rec"].Units["rec/1"].Machine, st.Applications["rec"].Units["rec/2"].Machine; m1 != "0" || m2 != "2" {
			t.Errorf("rec/1 on %q, rec/2 on %q, want 0 and a new machine 2", m1, m2)
		}
	})

	t.Run("remove-machine", func(t *testing.T) {
		_, stderr, err := s.RunE("remove-machine", "0")
		if want := "removing machine 0 failed: machine 0 has unit \"rec/1\" assigned\n"; err == nil || stderr != want {
			t.Errorf("remove-machine of a machine with a unit: %v %q, want %q and a failure", err, stderr, want)
		}
		if _, ok := s.Status("").Applications["rec"].Units["rec/1"]; !ok {
			t.Fatal("the refused remove-machine removed rec/1")
		}
		s.Run("remove-unit", "rec/1")
		if _, ok := s.Status("").Machines["0"]; ok {
			t.Error("machine 0 outlived its only unit")
		}
		_, stderr, _ = s.RunE("add-machine")
		if stderr != "created machine 3\n" {
			t.Fatalf("add-machine: %q", stderr)
		}
		// The fault verbs work on an empty machine: a reboot boots it again, no unit to start.
		before := machinePID(t, s, "3")
		s.Run("reboot", "3")
		pid := machinePID(t, s, "3")
		if got := strings.TrimSpace(s.Run("ssh", "3", "systemctl is-system-running")); pid == before || got != "running" {
			t.Errorf("empty machine 3 after a reboot: PID 1 %d (before %d), %q", pid, before, got)
		}
		if mc := s.Status("").Machines["3"]; mc.JujuStatus.Current != "started" {
			t.Errorf("empty machine 3 after a reboot: %+v", mc.JujuStatus)
		}
		if _, stderr, err := s.RunE("remove-machine", "3"); err != nil || stderr != "removing machine 3\n" {
			t.Errorf("remove-machine 3: %v %q", err, stderr)
		}
		if _, ok := s.Status("").Machines["3"]; ok {
			t.Error("machine 3 still listed")
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("machine 3's PID 1 (%d) still runs", pid)
		}
	})

	t.Run("destroy-model", func(t *testing.T) {
		s.Run("add-machine")
		pid := machinePID(t, s, "4")
		s.Run("destroy-model", "default", "-y", "--destroy-storage")
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("empty machine 4's PID 1 (%d) outlived its model", pid)
		}
		if entries, _ := os.ReadDir(filepath.Join(s.Home, "machines")); len(entries) != 0 {
			t.Errorf("%d machine directories left after destroy-model", len(entries))
		}
	})
}

// machinePID reads the host PID of a system machine's PID 1 from its machine.json.
func machinePID(t *testing.T, s *simtest.Sim, id string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.Home, "machines", "*-"+id, "machine.json"))
	if len(files) != 1 {
		t.Fatalf("machine %s: machine files %v", id, files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.PID == 0 {
		t.Fatalf("%s: %v %s", files[0], err, data)
	}
	return m.PID
}
