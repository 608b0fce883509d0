// Package e2e runs the charm end to end on jujusim: real machines (namespaces), real
// PostgreSQL, the real charm binary run as Juju runs it. The tests need root; without it
// they skip and say so.
package e2e

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
	"github.com/pgcharm/postgresql/internal/pack"
)

// builtCharm lays out a charm (source directory with its YAML, Go main package) once per
// test process.
func builtCharm(src, main string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "charm-e2e-")
		if err != nil {
			return "", err
		}
		return dir, pack.Layout(context.Background(), pack.Options{SrcDir: src, ModDir: "../..",
			Main: main, GOARCH: runtime.GOARCH, Version: "e2e"}, dir)
	})
}

var (
	postgresqlCharmDir = builtCharm("../..", "./cmd/postgresql-charm")
	clientCharmDir     = builtCharm("../charms/postgresql-client", "./tests/charms/postgresql-client")
)

func charmPath(t *testing.T, built func() (string, error)) string {
	t.Helper()
	dir, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// postgresqlCharm is the charm under test; clientCharm the pgsql test client.
func postgresqlCharm(t *testing.T) string { return charmPath(t, postgresqlCharmDir) }
func clientCharm(t *testing.T) string     { return charmPath(t, clientCharmDir) }

// newSim starts a jujusim world with one controller and a model.
func newSim(t *testing.T, model string) (*simtest.Sim, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	s := simtest.New(t)
	s.Verbose = false
	subnet := s.Bootstrap("lab")
	s.Run("add-model", model)
	return s, subnet
}

// psql runs SQL as postgres on a unit's machine and returns the unaligned output.
func psql(s *simtest.Sim, unit, sql string) string {
	s.T.Helper()
	return strings.TrimSpace(s.Exec(unit, "runuser", "-u", "postgres", "--", "psql", "-XAtc", sql))
}

// psqlE is psql that returns errors instead of failing the test.
func psqlE(s *simtest.Sim, unit, sql string) (string, error) {
	out, _, err := s.RunE("exec", unit, "--", "runuser", "-u", "postgres", "--", "psql", "-XAtc", sql)
	return strings.TrimSpace(out), err
}

// roles reads the status messages: the primary and the standbys of app.
func roles(t *testing.T, st simtest.Status, app string) (primary string, standbys []string) {
	t.Helper()
	for name, u := range st.Applications[app].Units {
		switch {
		case u.Workload.Current == "active" && strings.HasPrefix(u.Workload.Message, "Live master"):
			if primary != "" {
				t.Fatalf("two primaries: %s and %s", primary, name)
			}
			primary = name
		case u.Workload.Current == "active" && strings.HasPrefix(u.Workload.Message, "Live secondary"):
			standbys = append(standbys, name)
		}
	}
	return primary, standbys
}

// expectRoles fails unless app has one primary and n standbys, all active.
func expectRoles(t *testing.T, s *simtest.Sim, app string, n int) (string, []string) {
	t.Helper()
	st := s.Status("")
	p, sb := roles(t, st, app)
	if p == "" || len(sb) != n || len(st.Applications[app].Units) != n+1 {
		for name, u := range st.Applications[app].Units {
			t.Logf("%s: %s %q", name, u.Workload.Current, u.Workload.Message)
		}
		t.Fatalf("want one Live master and %d Live secondary units; got primary %q, standbys %v", n, p, sb)
	}
	for name, u := range st.Applications[app].Units {
		if len(u.OpenPorts) != 1 || u.OpenPorts[0] != "5432/tcp" {
			t.Errorf("%s: open ports %v, want [5432/tcp]", name, u.OpenPorts)
		}
	}
	return p, sb
}

// eventually polls f until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// teardownWithoutStorage checks a removed unit's teardown as the debug log tells it: its
// first teardown hook is pgdata-storage-detaching and stops PostgreSQL; no later hook
// starts, creates or clones a cluster (jujusim reports anything written where the volume
// was as a charm fault), and no hook fails.
func teardownWithoutStorage(t *testing.T, s *simtest.Sim, unit string) {
	t.Helper()
	log := s.Run("debug-log", "--include", unit)
	i := strings.Index(log, `ran "pgdata-storage-detaching" hook`)
	if i < 0 {
		t.Fatalf("%s never ran pgdata-storage-detaching:\n%s", unit, log)
	}
	before, after := log[:i], log[i:]
	if !strings.Contains(lastHookLines(before), "stopping PostgreSQL (Leaving: PostgreSQL stopped)") {
		t.Errorf("%s: pgdata-storage-detaching should stop PostgreSQL:\n%s", unit, lastHookLines(before))
	}
	for _, bad := range []string{"charm fault", "unit in error"} {
		if strings.Contains(after, bad) {
			t.Errorf("%s after its storage detached: %q in the debug log:\n%s", unit, bad, after)
		}
	}
	for _, h := range []string{"replication-relation-departed", "stop", "remove"} {
		if !strings.Contains(after, `ran "`+h+`" hook`) {
			t.Errorf("%s: no %s after pgdata-storage-detaching:\n%s", unit, h, after)
		}
	}
}

// lastHookLines returns the log lines after the last "ran" line of log (the lines of the
// hook whose "ran" line comes next).
func lastHookLines(log string) string {
	if i := strings.LastIndex(log, "\" hook ("); i >= 0 {
		if j := strings.Index(log[i:], "\n"); j >= 0 {
			return log[i+j+1:]
		}
	}
	return log
}
