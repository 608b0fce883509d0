package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	jujucharm "github.com/juju/charm/v12"

	"github.com/pgcharm/postgresql"
	"github.com/pgcharm/postgresql/internal/pack"
)

func TestTarget(t *testing.T) {
	cases := []struct{ dispatch, argv0, kind, name string }{
		{"hooks/install", "/var/lib/juju/agents/unit-pg-0/charm/dispatch", "hooks", "install"},
		{"actions/wal-e-backup", "./dispatch", "actions", "wal-e-backup"},
		{"", "/var/lib/juju/agents/unit-pg-0/charm/hooks/db-relation-changed", "hooks", "db-relation-changed"},
		{"", "/charm/actions/switchover", "actions", "switchover"},
		{"", "/usr/local/bin/postgresql-charm", "bin", "postgresql-charm"},
	}
	for _, c := range cases {
		kind, name := target(c.dispatch, c.argv0)
		if kind != c.kind || name != c.name {
			t.Errorf("target(%q, %q) = %s, %s; want %s, %s", c.dispatch, c.argv0, kind, name, c.kind, c.name)
		}
	}
}

func TestSubcommandFaceWinsOverInheritedHookEnvironment(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"/charm/dispatch", "--version"}, "hooks/install", &out, &errb); code != 0 {
		t.Fatalf("--version exited %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "postgresql-charm ") {
		t.Errorf("--version printed %q", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"/charm/dispatch", "no-such-command"}, "", &out, &errb); code != 2 {
		t.Errorf("unknown command exited %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `unknown command "no-such-command"`) {
		t.Errorf("unknown command said %q", errb.String())
	}
}

// fakeJuju is a charm directory with the real binary and hook tools that record their
// calls, enough to run the binary the way the unit agent does.
type fakeJuju struct {
	t        *testing.T
	charmDir string
	tools    string
	calls    string
}

// builtCharm lays out the charm once per test binary (in builtDir); each test copies it.
var builtDir string

var builtCharm = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "charm-test-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	return dir, pack.Layout(context.Background(), pack.Options{
		SrcDir: "../..", ModDir: "../..", Main: "./cmd/postgresql-charm", GOARCH: runtime.GOARCH, Version: "test",
	}, dir)
})

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func newFakeJuju(t *testing.T, config map[string]any) *fakeJuju {
	t.Helper()
	f := &fakeJuju{t: t, tools: t.TempDir()}
	f.calls = filepath.Join(f.tools, "calls")
	built, err := builtCharm()
	if err != nil {
		t.Fatal(err)
	}
	f.charmDir = filepath.Join(t.TempDir(), "charm")
	if out, err := exec.Command("cp", "-a", built, f.charmDir).CombinedOutput(); err != nil {
		t.Fatalf("copy charm: %v %s", err, out)
	}
	cfg, err := jujucharm.ReadConfig(bytes.NewReader(postgresql.Config))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]any(cfg.DefaultSettings())
	for k, v := range config {
		settings[k] = v
	}
	js, _ := json.Marshal(settings)
	if err := os.WriteFile(filepath.Join(f.tools, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	record := `echo "$(basename "$0") $*" >> ` + f.calls + "\n"
	tools := map[string]string{
		"config-get":   record + `cat ` + filepath.Join(f.tools, "config.json"),
		"action-get":   record + `echo '{}'`,
		"is-leader":    record + `echo false`,
		"relation-ids": record + `echo '[]'`,
		"goal-state":   record + `echo '{"units":{},"relations":{}}'`,
		"network-get":  record + `echo '{"bind-addresses":[],"ingress-addresses":["10.9.9.9"],"egress-subnets":["10.9.9.9/32"]}'`,
		"storage-list": record + `echo '[]'`,
	}
	for _, name := range []string{"status-set", "juju-log", "action-fail", "action-log", "action-set", "application-version-set"} {
		tools[name] = record
	}
	for name, body := range tools {
		if err := os.WriteFile(filepath.Join(f.tools, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// run starts the charm as Juju would: path relative to the charm dir, no arguments.
func (f *fakeJuju) run(path, dispatchPath string, env ...string) (int, string) {
	os.Remove(f.calls)
	cmd := exec.Command(filepath.Join(f.charmDir, path))
	cmd.Dir = f.charmDir
	cmd.Env = append([]string{"PATH=" + f.tools + ":/usr/bin:/bin", "JUJU_UNIT_NAME=postgresql/0", "JUJU_CHARM_DIR=" + f.charmDir,
		"CHARM_DIR=" + f.charmDir, "JUJU_DISPATCH_PATH=" + dispatchPath}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	calls, _ := os.ReadFile(f.calls)
	if code != 0 {
		f.t.Logf("output: %s", out)
	}
	return code, string(calls)
}

// TestEveryHookRunsThroughDispatchAndSymlink runs every hook both ways Juju may start it.
// The configuration is invalid on purpose: the reconcile then stops at the blocked status,
// before it would touch this machine's PostgreSQL; teardown hooks (Juju 3.6: storage-detaching,
// stop, remove) run whatever the configuration holds, and find no server here to stop.
func TestEveryHookRunsThroughDispatchAndSymlink(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm binary; skipped with -short")
	}
	f := newFakeJuju(t, map[string]any{"max_connections": 0})
	meta, err := pack.ReadMeta("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, hook := range pack.HookNames(meta) {
		for _, via := range []struct{ path, dispatch string }{{"dispatch", "hooks/" + hook}, {"hooks/" + hook, ""}} {
			code, calls := f.run(via.path, via.dispatch, "JUJU_HOOK_NAME="+hook)
			if code != 0 {
				t.Errorf("%s via %s exited %d", hook, via.path, code)
			}
			if !strings.Contains(calls, "config-get --all --format=json") {
				t.Errorf("%s via %s did not reconcile; tool calls:\n%s", hook, via.path, calls)
			}
			// The fake goal-state lists no units, so this unit is dying: teardown hooks stop
			// the server whatever the configuration holds; every other hook blocks on it.
			blocked := strings.Contains(calls, "status-set blocked max_connections: ")
			if teardown := hook == "stop" || hook == "remove" || strings.HasSuffix(hook, "-storage-detaching"); teardown == blocked {
				t.Errorf("%s via %s: teardown hook %v, blocked on the bad option %v; tool calls:\n%s", hook, via.path, teardown, blocked, calls)
			}
		}
	}
}

func TestBadConfigBlocksWithTheOptionNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm binary; skipped with -short")
	}
	f := newFakeJuju(t, map[string]any{"wal_e_compression": "gzip"})
	code, calls := f.run("dispatch", "hooks/config-changed")
	if code != 0 {
		t.Fatalf("config-changed with a bad option exited %d; bad input must not error the hook", code)
	}
	if !strings.Contains(calls, `status-set blocked wal_e_compression: "gzip" is not supported; use lz4, zstd or none`) {
		t.Errorf("status does not name the option and the fix:\n%s", calls)
	}
}

func TestUnknownHookIsLoggedAndSucceeds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm binary; skipped with -short")
	}
	f := newFakeJuju(t, nil)
	code, calls := f.run("dispatch", "hooks/some-future-hook")
	if code != 0 {
		t.Fatalf("unknown hook exited %d", code)
	}
	if !strings.Contains(calls, "juju-log") || strings.Contains(calls, "status-set") {
		t.Errorf("unknown hook should only log; calls:\n%s", calls)
	}
}

func TestUnknownActionFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm binary; skipped with -short")
	}
	f := newFakeJuju(t, nil)
	code, calls := f.run("dispatch", "actions/drop-everything", "JUJU_ACTION_NAME=drop-everything")
	if code != 0 {
		t.Fatalf("unknown action exited %d; action-fail reports it", code)
	}
	if !strings.Contains(calls, `action-fail unknown action "drop-everything"`) {
		t.Errorf("calls:\n%s", calls)
	}
}
