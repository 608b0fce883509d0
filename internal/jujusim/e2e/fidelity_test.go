package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from this run")

// golden compares got with testdata/NAME.golden (rewritten under -update) and shows the
// difference line by line.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s differs from line %d:\n got: %s\nwant: %s\nwhole transcript:\n%s", path, i+1, gl, wl, got)
			return
		}
	}
}

// transcript is a golden record of what a test saw, with the run's addresses replaced by names.
type transcript struct {
	t     *testing.T
	s     *simtest.Sim
	b     strings.Builder
	names *strings.Replacer
}

func (tr *transcript) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if tr.names != nil {
		line = tr.names.Replace(line)
	}
	tr.b.WriteString(strings.TrimRight(line, "\n") + "\n")
}

// sh runs a script in a unit's machine (jujusim ssh) and records it with its output and,
// when it fails, its exit.
func (tr *transcript) sh(unit, script string) {
	tr.t.Helper()
	out, _, err := tr.s.RunE("ssh", unit, script)
	tr.printf("%s$ %s", unit, script)
	if out = strings.TrimRight(out, "\n"); out != "" {
		tr.printf("%s", out)
	}
	if err != nil {
		tr.printf("(fails)")
	}
}

// hooksSince records the hooks a unit ran since its n-th record and returns its count now.
func (tr *transcript) hooksSince(unit string, n int) int {
	tr.t.Helper()
	recs := records(tr.t, tr.s, "", unit)
	hs := hooks(recs[n:])
	if len(hs) == 0 {
		hs = []string{"(none)"}
	}
	tr.printf("hooks %s: %s", unit, strings.Join(hs, " "))
	return len(recs)
}

// status records a unit's agent and workload status and its machine's.
func (tr *transcript) status(unit string) {
	tr.t.Helper()
	var doc struct {
		Machines map[string]struct {
			Juju    simtest.StatusValue `json:"juju-status"`
			Machine simtest.StatusValue `json:"machine-status"`
		} `json:"machines"`
	}
	if err := json.Unmarshal([]byte(tr.s.Run("status", "--format=json")), &doc); err != nil {
		tr.t.Fatal(err)
	}
	app, _, _ := strings.Cut(unit, "/")
	u := tr.s.Status("").Applications[app].Units[unit]
	mc := doc.Machines[u.Machine]
	tr.printf("status %s: agent %s %q, workload %s %q; machine %s: %s %q, instance %s %q", unit,
		u.Agent.Current, u.Agent.Message, u.Workload.Current, u.Workload.Message,
		u.Machine, mc.Juju.Current, mc.Juju.Message, mc.Machine.Current, mc.Machine.Message)
}

// dial records whether from's machine reaches a listener on to's address (both ways of a
// partition): what the listener saw as the source, or that the connection failed.
func (tr *transcript) dial(from, to, addr string, port int) {
	tr.t.Helper()
	s := tr.s
	s.Run("ssh", to, fmt.Sprintf("nohup timeout 20 %s netcheck-serve %s:%d 1 >/dev/null 2>&1 </dev/null &", s.Bin, addr, port))
	var out, errOut string
	var err error
	// Until the listener is up (refused before); a cut path fails three times.
	for i, cut := 0, 0; i < 30 && cut < 3; i++ {
		out, errOut, err = s.RunE("exec", from, "--", "timeout", "3", s.Bin, "netcheck-dial", fmt.Sprintf("%s:%d", addr, port))
		if err == nil {
			break
		}
		if !strings.Contains(errOut, "connection refused") {
			cut++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tr.printf("dial %s -> %s: fails", from, to)
		return
	}
	tr.printf("dial %s -> %s: the listener sees %s", from, to, strings.TrimSpace(out))
}

// TestMachineFidelityGolden is #12's fidelity record as one golden transcript
// (testdata/machine-fidelity.golden; `go test -run TestMachineFidelityGolden -update` rewrites
// it), on two recorder units, one hook at a time:
//   - a fresh machine runs systemd as PID 1 with nothing failed, its /usr is its own (a write
//     there reaches neither the host nor the other machine), and pg_ctlcluster goes through
//     systemctl (postgresql@15-probe active after start, inactive after stop);
//   - a reboot keeps the disk (the upper directory) and the volume, and the unit runs start
//     (worker/uniter/uniter.go runs start after a reboot);
//   - a crash shows the unit lost and its machine down (apiserver/facades/client/client/status.go
//     spells it), runs no hook on it while it is down, and start-machine runs start and the held
//     hooks;
//   - a partition cuts traffic both ways while the machine's processes run, holds the unit's
//     hooks, and heal restores both.
func TestMachineFidelityGolden(t *testing.T) {
	s := simtest.New(t)
	s.SystemMachines()
	s.Serial = true
	s.Seed = 0
	s.Setenv("JUJUSIM_SEED", "0") // one transcript, whatever seed the run was given
	s.Bootstrap("ctl")
	s.Run("deploy", recorderCharm(t), "rec", "-n", "2", "--storage", "data=1G")
	st := s.Status("")
	var pairs []string
	units := sortedUnits(st.Applications["rec"].Units)
	for _, name := range units {
		u := st.Applications["rec"].Units[name]
		pairs = append(pairs, u.PublicAddress, "<"+name+" public>", u.Address, "<"+name+">")
	}
	tr := &transcript{t: t, s: s, names: strings.NewReplacer(pairs...)}
	a, b := "rec/0", "rec/1"

	tr.printf("# a fresh machine")
	tr.sh(b, "cat /proc/1/comm")
	tr.sh(b, "systemctl is-system-running")
	tr.sh(b, "systemctl --failed --no-legend --no-pager | wc -l")
	tr.sh(b, "systemd-detect-virt --container >/dev/null && echo in a container")
	tr.sh(b, "pg_createcluster 15 probe >/dev/null && pg_ctlcluster 15 probe start && systemctl is-active postgresql@15-probe")
	tr.sh(b, "pg_ctlcluster 15 probe stop; systemctl is-active postgresql@15-probe")
	tr.sh(b, "echo mine > /usr/local/fidelity-probe && cat /usr/local/fidelity-probe")
	_, err := os.Stat("/usr/local/fidelity-probe")
	tr.printf("host: /usr/local/fidelity-probe exists: %v", err == nil)
	tr.sh(a, "test -e /usr/local/fidelity-probe && echo exists || echo absent")

	tr.printf("# reboot")
	tr.sh(b, "echo disk > /etc/fidelity-marker && echo volume > /srv/data/fidelity-marker")
	n := len(records(t, s, "", b))
	s.Reboot(b)
	tr.printf("reboot %s", b)
	n = tr.hooksSince(b, n)
	tr.status(b)
	tr.sh(b, "cat /etc/fidelity-marker /srv/data/fidelity-marker")
	tr.sh(b, "systemctl is-system-running")

	tr.printf("# crash")
	s.Crash(b)
	tr.printf("crash %s", b)
	tr.status(b)
	s.Run("config", "rec", "greeting=after-crash")
	tr.printf("config rec greeting=after-crash")
	_, _, err = s.RunE("exec", b, "--", "true")
	tr.printf("exec %s: fails: %v", b, err != nil)
	s.StartMachine(b)
	tr.printf("start-machine %s", b)
	n = tr.hooksSince(b, n)
	tr.status(b)

	tr.printf("# partition")
	ab, ba := st.Applications["rec"].Units[a].Address, st.Applications["rec"].Units[b].Address
	tr.dial(b, a, ab, 7081)
	tr.sh(b, "nohup sleep 600 >/dev/null 2>&1 </dev/null & echo $! > /root/fidelity-sleep.pid")
	s.Partition(b)
	tr.printf("partition %s", b)
	tr.status(b)
	tr.dial(b, a, ab, 7082)
	tr.dial(a, b, ba, 7083)
	tr.sh(b, "kill -0 $(cat /root/fidelity-sleep.pid) && echo still running")
	s.Run("config", "rec", "greeting=during-partition")
	tr.printf("config rec greeting=during-partition")
	n = tr.hooksSince(b, n)
	s.Heal(b)
	tr.printf("heal %s", b)
	tr.hooksSince(b, n)
	tr.status(b)
	tr.dial(b, a, ab, 7084)
	tr.dial(a, b, ba, 7085)

	golden(t, "machine-fidelity", tr.b.String())
}

func sortedUnits(m map[string]simtest.UnitStatus) []string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}
