package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// snapshot is what a hook could change on a unit: its status, its server's start time
// (a restart changes it), its configuration files and its replication state.
func snapshot(t *testing.T, s *simtest.Sim) string {
	t.Helper()
	st := s.Status("")
	var names []string
	for name := range st.Applications["postgresql"].Units {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		u := st.Applications["postgresql"].Units[name]
		fmt.Fprintf(&b, "%s %s %q %v\n", name, u.Workload.Current, u.Workload.Message, u.OpenPorts)
		b.WriteString(s.Exec(name, "sh", "-c", "md5sum /etc/postgresql/*/main/*.conf /etc/postgresql/*/main/conf.d/* /etc/postgresql/*/main/*.crt"))
		b.WriteString(psql(s, name, "SELECT pg_postmaster_start_time(), pg_is_in_recovery(), (SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots)"))
		b.WriteString("\n")
	}
	return b.String()
}

var hookTime = regexp.MustCompile(`ran "update-status" hook .* in ([0-9.]+m?s)`)

// TestHooksAreIdempotent runs every kind of hook a settled application sees, twice, and
// checks that nothing changed: no restart, no rewritten file, no status change.
func TestHooksAreIdempotent(t *testing.T) {
	s, _ := newSim(t, "idem")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	expectRoles(t, s, "postgresql", 1)
	before := snapshot(t, s)
	for _, unit := range []string{"postgresql/0", "postgresql/1"} {
		for _, hook := range []string{"config-changed", "update-status", "upgrade-charm", "start", "leader-settings-changed"} {
			for i := 0; i < 2; i++ {
				s.Run("run-hook", unit, hook)
			}
		}
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("hooks run again changed the units:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var times []string
	for _, m := range hookTime.FindAllStringSubmatch(s.Run("debug-log"), -1) {
		times = append(times, m[1])
	}
	t.Logf("update-status wall times on settled units: %s", strings.Join(times, " "))
}

// TestShuffledDeploysConverge: whatever order the units' hooks interleave in, deploy -n 3
// ends with one primary and two standbys.
func TestShuffledDeploysConverge(t *testing.T) {
	for _, seed := range []int64{7, 1234} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s, _ := newSim(t, "shuffle")
			s.Seed = seed
			start := time.Now()
			s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G")
			t.Logf("seed %d: deploy -n 3 took %s", seed, time.Since(start).Round(time.Millisecond))
			primary, standbys := expectRoles(t, s, "postgresql", 2)
			psql(s, primary, "CREATE TABLE x (i int); INSERT INTO x VALUES (1)")
			for _, u := range standbys {
				eventually(t, 30*time.Second, "replication to "+u, func() bool {
					out, err := psqlE(s, u, "SELECT count(*) FROM x")
					return err == nil && out == "1"
				})
			}
		})
	}
}

// TestConfiguration: a bad setting blocks every unit naming the option and changes nothing;
// fixing it unblocks; a setting that needs a restart restarts standbys before the primary.
func TestConfiguration(t *testing.T) {
	s, _ := newSim(t, "conf")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	started := func(u string) string { return psql(s, u, "SELECT pg_postmaster_start_time()") }
	before := map[string]string{primary: started(primary), standbys[0]: started(standbys[0])}

	s.Run("config", "postgresql", "extra_pg_conf=work_mem = 10XB")
	for name, u := range s.Status("").Applications["postgresql"].Units {
		if u.Workload.Current != "blocked" || !strings.HasPrefix(u.Workload.Message, "extra_pg_conf: ") || !strings.Contains(u.Workload.Message, "work_mem") {
			t.Errorf("%s: %s %q; want blocked naming extra_pg_conf and work_mem", name, u.Workload.Current, u.Workload.Message)
		}
		if got := psql(s, name, "SHOW work_mem"); got != "4MB" {
			t.Errorf("%s: work_mem %s after a refused setting", name, got)
		}
	}
	s.Run("config", "postgresql", "extra_pg_conf=work_mem = 10MB", "max_connections=150")
	expectRoles(t, s, "postgresql", 1)
	for _, u := range []string{primary, standbys[0]} {
		if got := psql(s, u, "SHOW work_mem") + " " + psql(s, u, "SHOW max_connections"); got != "10MB 150" {
			t.Errorf("%s: work_mem and max_connections %s", u, got)
		}
		if started(u) == before[u] {
			t.Errorf("%s was not restarted for max_connections", u)
		}
	}
	if started(standbys[0]) > started(primary) {
		t.Errorf("the primary restarted (%s) before its standby (%s)", started(primary), started(standbys[0]))
	}
}

// TestUpdateStatusTimer: update-status firing every few seconds (model config
// update-status-hook-interval; Juju's uniter runs it on a timer, interleaved with the other
// hooks) on a settled 3-unit deployment for a minute restarts nothing and changes nothing.
func TestUpdateStatusTimer(t *testing.T) {
	s, _ := newSim(t, "timer")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "3", "--storage", "pgdata=1G")
	expectRoles(t, s, "postgresql", 2)
	before := snapshot(t, s)
	s.Run("model-config", "update-status-hook-interval=3s")
	runs := func() int { return strings.Count(s.Run("debug-log"), `ran "update-status" hook`) }
	start, n0 := time.Now(), runs()
	for time.Since(start) < time.Minute {
		time.Sleep(3 * time.Second)
		s.Run("wait")
	}
	if n := runs() - n0; n < 3*10 {
		t.Fatalf("update-status ran %d times in a minute on 3 units; want at least 30", n)
	} else {
		t.Logf("update-status ran %d times in a minute on 3 units", n)
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("update-status changed the units:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
