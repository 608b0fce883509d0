package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestMachineFaults reboots, crashes and partitions system machines under the recorder charm.
// Juju's behaviour followed: after a reboot the uniter runs start (worker/uniter/uniter.go,
// reboot detection in worker/uniter/operation); a unit whose agent cannot reach the controller
// runs nothing and shows lost (apiserver/facades/client/client/status.go: "agent lost, see
// 'juju show-status-log UNIT'"); leadership moves once the lease expires
// (worker/lease/manager.go, one-minute leases).
func TestMachineFaults(t *testing.T) {
	s := simtest.New(t)
	s.SystemMachines()
	s.Setenv("JUJUSIM_LEASE_TIME", "2s")
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "3")
	if l := s.Leader("", "rec"); l != "rec/0" {
		t.Fatalf("leader %q, want rec/0", l)
	}
	if got := strings.TrimSpace(s.Exec("rec/1", "sh", "-c", "cat /proc/1/comm; systemctl is-system-running")); got != "systemd\nrunning" {
		t.Fatalf("rec/1's machine: %q, want systemd running", got)
	}

	t.Run("reboot", func(t *testing.T) {
		s.Exec("rec/1", "sh", "-c", "echo disk > /etc/jujusim-marker")
		before := len(records(t, s, "", "rec/1"))
		s.Reboot("rec/1")
		recs := records(t, s, "", "rec/1")
		if after := hooks(recs[before:]); len(after) == 0 || after[0] != "start" {
			t.Errorf("hooks after the reboot: %v, want start first", after)
		}
		if got := strings.TrimSpace(s.Exec("rec/1", "cat", "/etc/jujusim-marker")); got != "disk" {
			t.Errorf("the disk after a reboot: %q", got)
		}
		// Both addresses come back with eth0.
		u := s.Status("").Applications["rec"].Units["rec/1"]
		if ips := s.Exec("rec/1", "ip", "-o", "-4", "addr", "show", "dev", "eth0"); u.PublicAddress == u.Address ||
			!strings.Contains(ips, " "+u.Address+"/") || !strings.Contains(ips, " "+u.PublicAddress+"/") {
			t.Errorf("eth0 after a reboot: %s, want %s and %s", ips, u.Address, u.PublicAddress)
		}
		if u := s.Status("").Applications["rec"].Units["rec/1"]; u.Agent.Current != "idle" {
			t.Errorf("rec/1 after a reboot: agent %+v", u.Agent)
		}
	})

	// From inside: `systemctl reboot` reboots the machine (the kernel ends a PID namespace's
	// init with SIGHUP on reboot(2): machine.ExitReboot) and its unit runs start, as on a
	// cloud instance; `systemctl poweroff` leaves it off, down and its unit lost, until
	// start-machine.
	t.Run("from inside", func(t *testing.T) {
		s.Exec("rec/1", "sh", "-c", "echo inside > /etc/jujusim-marker-inside")
		before := len(records(t, s, "", "rec/1"))
		s.Run("ssh", "rec/1", "systemctl reboot --no-block")
		var after []string
		for i := 0; i < 300 && indexOf(after, "start") < 0; i++ {
			time.Sleep(200 * time.Millisecond)
			if out, _, err := s.RunE("exec", "rec/1", "--", "cat", "/var/lib/juju/recorder.jsonl"); err == nil {
				after = nil
				for j, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if j >= before {
						after = append(after, l)
					}
				}
				after = hooks(parseRecords(t, after))
			}
		}
		if len(after) == 0 || after[0] != "start" {
			t.Fatalf("hooks of rec/1 after systemctl reboot inside it: %v, want start", after)
		}
		if got := strings.TrimSpace(s.Exec("rec/1", "cat", "/etc/jujusim-marker-inside")); got != "inside" {
			t.Errorf("the disk after a reboot from inside: %q", got)
		}
		if u := s.Status("").Applications["rec"].Units["rec/1"]; u.Agent.Current != "idle" {
			t.Errorf("rec/1 after a reboot from inside: agent %+v", u.Agent)
		}

		s.Run("ssh", "rec/1", "systemctl poweroff --no-block")
		var st simtest.Status
		for i := 0; i < 300; i++ {
			time.Sleep(200 * time.Millisecond)
			st = s.Status("")
			if st.Applications["rec"].Units["rec/1"].Agent.Current == "lost" {
				break
			}
		}
		u := st.Applications["rec"].Units["rec/1"]
		if u.Agent.Current != "lost" || !strings.Contains(s.Run("status"), "down") {
			t.Fatalf("rec/1 after systemctl poweroff inside it: agent %+v", u.Agent)
		}
		if _, _, err := s.RunE("exec", "rec/1", "--", "true"); err == nil {
			t.Error("exec in a machine powered off from inside succeeded")
		}
		s.StartMachine("rec/1")
		if u := s.Status("").Applications["rec"].Units["rec/1"]; u.Agent.Current != "idle" {
			t.Errorf("rec/1 after start-machine: agent %+v", u.Agent)
		}
	})

	t.Run("crash", func(t *testing.T) {
		before := len(records(t, s, "", "rec/2"))
		s.Crash("rec/2")
		st := s.Status("")
		u := st.Applications["rec"].Units["rec/2"]
		if u.Agent.Current != "lost" || u.Workload.Current != "unknown" || u.Workload.Message != "agent lost, see 'juju show-status-log rec/2'" {
			t.Errorf("crashed unit's status: agent %+v, workload %+v", u.Agent, u.Workload)
		}
		if _, _, err := s.RunE("exec", "rec/2", "--", "true"); err == nil {
			t.Error("exec in a crashed machine succeeded")
		}
		s.Run("config", "rec", "greeting=after-crash")
		s.Run("run-hook", "rec/2", "update-status")
		out := s.Run("status")
		for _, want := range []string{"lost", "down"} {
			if !strings.Contains(out, want) {
				t.Errorf("tabular status lacks %q:\n%s", want, out)
			}
		}
		s.StartMachine("rec/2")
		recs := records(t, s, "", "rec/2")
		after := hooks(recs[before:])
		if len(after) < 2 || after[0] != "start" || indexOf(after, "config-changed") < 0 || indexOf(after, "update-status") < 0 {
			t.Errorf("hooks of rec/2 once started again: %v, want start, then the held config-changed and update-status", after)
		}
		if u := s.Status("").Applications["rec"].Units["rec/2"]; u.Agent.Current != "idle" || u.Workload.Current == "unknown" {
			t.Errorf("rec/2 after start-machine: agent %+v workload %+v", u.Agent, u.Workload)
		}
	})

	t.Run("partition", func(t *testing.T) {
		before := len(records(t, s, "", "rec/0"))
		s.Exec("rec/0", "sh", "-c", "nohup sleep 600 >/dev/null 2>&1 </dev/null & echo $! > /root/sleep.pid")
		s.Partition("rec/0")
		// (Traffic both ways is cut: machine.TestSystemMachine/partition checks it.)
		s.Run("config", "rec", "greeting=during-partition")
		if n := len(records(t, s, "", "rec/0")); n != before {
			t.Errorf("partitioned rec/0 ran %v", hooks(records(t, s, "", "rec/0")[before:]))
		}
		if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Agent.Current != "lost" {
			t.Errorf("partitioned unit's agent: %+v", u.Agent)
		}
		if got := strings.TrimSpace(s.Exec("rec/0", "sh", "-c", "kill -0 $(cat /root/sleep.pid) && echo alive")); got != "alive" {
			t.Errorf("a process of the partitioned machine: %q", got)
		}
		// The lease of the partitioned leader expires; another unit leads.
		time.Sleep(2500 * time.Millisecond)
		s.Run("wait")
		l := s.Leader("", "rec")
		if l == "rec/0" || l == "" {
			t.Fatalf("leader after the lease expired: %q", l)
		}
		if recs := records(t, s, "", l); hooks(recs)[len(recs)-1] != "leader-elected" {
			t.Errorf("new leader %s last ran %s", l, hooks(recs)[len(recs)-1])
		}
		s.Heal("rec/0")
		after := hooks(records(t, s, "", "rec/0")[before:])
		if indexOf(after, "config-changed") < 0 {
			t.Errorf("held hooks of rec/0 after heal: %v, want config-changed", after)
		}
		if u := s.Status("").Applications["rec"].Units["rec/0"]; u.Agent.Current != "idle" {
			t.Errorf("healed unit's agent: %+v", u.Agent)
		}
	})

	// jujusim has no controller clock: every command lets lapsed leases expire, juju-exec on a
	// machine included. A surviving unit's agent that calls juju-exec after the leader's
	// machine died, with no host command in between, finds the leadership moved to the lowest
	// reachable unit (is-leader answers True there, as on Juju once the lapsed lease is
	// claimed: worker/lease/manager.go, worker/leadership/tracker.go); its leader-elected runs
	// with the next command that runs hooks. The expiry is the one the crash recorded, though
	// juju-exec runs without the test's JUJUSIM_LEASE_TIME.
	t.Run("lease lapses on juju-exec", func(t *testing.T) {
		old := s.Leader("", "rec")
		if old == "rec/0" || old == "" {
			t.Fatalf("leader %q before the crash, want another than rec/0", old)
		}
		s.Setenv("JUJUSIM_LEASE_TIME", "5s")
		defer s.Setenv("JUJUSIM_LEASE_TIME", "2s")
		before := len(records(t, s, "", "rec/0"))
		s.Crash(old)
		// ssh (a host command) starts before the lease lapses; juju-exec runs after.
		out := strings.TrimSpace(s.Run("ssh", "rec/0", "sleep 6; juju-exec rec/0 is-leader"))
		if out != "True" {
			t.Errorf("is-leader in juju-exec on rec/0 after %s's lease lapsed: %q, want True", old, out)
		}
		if l := s.Leader("", "rec"); l != "rec/0" {
			t.Errorf("leader after the juju-exec: %q, want rec/0", l)
		}
		s.Run("wait")
		if after := hooks(records(t, s, "", "rec/0")[before:]); indexOf(after, "leader-elected") < 0 {
			t.Errorf("rec/0 ran %v after it got the lease, want leader-elected", after)
		}
		s.StartMachine(old)
	})

	t.Run("remove-machine --force", func(t *testing.T) {
		st := s.Status("")
		m2 := st.Applications["rec"].Units["rec/2"].Machine
		s.Crash(m2)
		s.Run("remove-machine", m2, "--force")
		st = s.Status("")
		if _, ok := st.Applications["rec"].Units["rec/2"]; ok {
			t.Error("rec/2 still in the model")
		}
		if _, ok := st.Machines[m2]; ok {
			t.Errorf("machine %s still in the model", m2)
		}
		if d := find(records(t, s, "", "rec/1"), "peers-relation-departed"); len(d) == 0 {
			t.Error("rec/1 never saw rec/2 depart")
		}
		if entries, _ := os.ReadDir(filepath.Join(s.Home, "machines")); len(entries) != 2 {
			t.Errorf("machine directories left: %d, want 2", len(entries))
		}
	})
}

// TestCleanupAfterFaults checks that kill-controller --all leaves nothing of system machines on
// the host, one of them crashed, one partitioned and one empty (add-machine): no process,
// mount, cgroup or veth.
func TestCleanupAfterFaults(t *testing.T) {
	s := simtest.New(t)
	s.SystemMachines()
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "3")
	s.Run("add-machine") // an empty machine goes too
	type machineFile struct {
		PID    int    `json:"pid"`
		Veth   string `json:"veth"`
		Cgroup string `json:"cgroup"`
	}
	var ms []machineFile
	dirs, _ := filepath.Glob(filepath.Join(s.Home, "machines", "*", "machine.json"))
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m machineFile
		if err := json.Unmarshal(data, &m); err != nil || m.PID == 0 || m.Cgroup == "" {
			t.Fatalf("%s: %v %+v", f, err, m)
		}
		ms = append(ms, m)
	}
	if len(ms) != 4 {
		t.Fatalf("%d machine files, want 4", len(ms))
	}
	s.Crash("rec/1")
	s.Partition("rec/2")
	s.Run("kill-controller", "--all")
	for _, m := range ms {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", m.PID)); err == nil {
			t.Errorf("PID 1 %d of a machine still runs", m.PID)
		}
		if _, err := os.Stat(m.Cgroup); err == nil {
			t.Errorf("cgroup %s left", m.Cgroup)
		}
		if _, err := os.Stat("/sys/class/net/" + m.Veth); err == nil {
			t.Errorf("veth %s left", m.Veth)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), s.Home) {
		t.Errorf("mounts under %s left:\n%s", s.Home, mounts)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Home, "machines")); len(entries) != 0 {
		t.Errorf("%d machine directories left", len(entries))
	}
}
