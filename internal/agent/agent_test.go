package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestMajority(t *testing.T) {
	cfg := Config{Unit: "pg/0", Members: []string{"pg/0", "pg/1", "pg/2"}}
	up := View{HostUp: true}
	for _, tc := range []struct {
		name  string
		cfg   Config
		views map[string]View
		ok    bool
	}{
		{"all up", cfg, map[string]View{"pg/1": up, "pg/2": up}, true},
		{"one standby's machine gone", cfg, map[string]View{"pg/1": up}, true},
		{"cut off from both", cfg, map[string]View{}, false},
		{"two units, the standby's machine gone: no majority", Config{Unit: "pg/0", Members: []string{"pg/0", "pg/1"}}, map[string]View{}, false},
		{"alone: always a majority", Config{Unit: "pg/0"}, nil, true},
		{"a unit still cloning is no member", Config{Unit: "pg/0", Members: []string{"pg/0", "pg/1"}}, map[string]View{"pg/1": up, "pg/2": {}}, true},
	} {
		if _, _, ok := majority(tc.cfg, tc.views); ok != tc.ok {
			t.Errorf("%s: majority %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestHostAnswered(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if !hostAnswered(fmt.Errorf("connect: %w", refused)) {
		t.Error("a refused connection means the machine answered")
	}
	if !hostAnswered(fmt.Errorf("login: %w", &pgconn.PgError{Code: "28P01"})) {
		t.Error("a server error means the machine answered")
	}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
	if hostAnswered(timeout) || hostAnswered(errors.New("i/o timeout")) {
		t.Error("no route or a timeout is no answer")
	}
}

func TestWakeReason(t *testing.T) {
	now := time.Now()
	cfg := Config{Unit: "pg/1", Primary: "pg/0", Timeout: 10, Wake: []string{"juju-exec"},
		Units: map[string]string{"pg/0": "a", "pg/1": "b", "pg/2": "c"}}
	standby := View{Reachable: true, HostUp: true, InRecovery: true}
	for _, tc := range []struct {
		name  string
		views map[string]View
		want  bool
	}{
		{"primary answers", map[string]View{"pg/0": {Reachable: true}, "pg/1": standby, "pg/2": standby}, false},
		{"primary gone for less than the timeout", map[string]View{"pg/0": {DownSince: now.Add(-9 * time.Second)}, "pg/1": standby, "pg/2": standby}, false},
		{"primary gone for the timeout", map[string]View{"pg/0": {DownSince: now.Add(-10 * time.Second)}, "pg/1": standby, "pg/2": standby}, true},
		{"gone from here, but a standby still streams from it", map[string]View{"pg/0": {DownSince: now.Add(-time.Minute)}, "pg/1": standby,
			"pg/2": {Reachable: true, InRecovery: true, Streaming: true}}, false},
	} {
		a := &Agent{views: tc.views, lastMajority: true}
		if got := a.wakeReason(cfg, now, true); (got != "") != tc.want {
			t.Errorf("%s: wake %q, want %v", tc.name, got, tc.want)
		}
	}
	// A role change wakes the charm once.
	a := &Agent{views: map[string]View{"pg/0": {Reachable: true}, "pg/1": standby, "pg/2": standby}, lastMajority: true}
	a.wakeReason(cfg, now, true)
	a.views["pg/2"] = View{Reachable: true}
	if got := a.wakeReason(cfg, now, true); got != "pg/2 now serves as a primary" {
		t.Errorf("role change: %q", got)
	}
	if got := a.wakeReason(cfg, now, true); got != "" {
		t.Errorf("the same roles again: %q", got)
	}
	// Without a wake command (not configured yet), nothing.
	a.views["pg/0"] = View{DownSince: now.Add(-time.Hour)}
	if got := a.wakeReason(Config{Unit: "pg/1", Primary: "pg/0", Timeout: 10}, now, true); got != "" {
		t.Errorf("no wake command: %q", got)
	}
}

func TestWakeOnMajorityRegained(t *testing.T) {
	now := time.Now()
	cfg := Config{Unit: "pg/0", Primary: "pg/0", Timeout: 10, Wake: []string{"juju-exec"}}
	a := &Agent{views: map[string]View{"pg/0": {}}, started: now.Add(-time.Minute)}
	if got := a.wakeReason(cfg, now, false); got != "" {
		t.Errorf("cut off: %q", got)
	}
	if got := a.wakeReason(cfg, now, true); got != "a majority of the units answers again" {
		t.Errorf("majority back: %q", got)
	}
	if got := a.wakeReason(cfg, now, true); got != "" {
		t.Errorf("still there: %q", got)
	}
}

// The agent runs as root and acts on its configuration (it runs Wake, it stops the server):
// a configuration that is a link, or that anyone but root could have written, is refused.
func TestReadConfigRefusesWhatIsNotRootsAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the files are given to root)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "agent", "config.json")
	want := Config{Unit: "postgresql/0", Wake: []string{"juju-exec", "postgresql/0", "true"}}
	if _, err := WriteConfig(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadConfig(path); err != nil || got.Unit != want.Unit || len(got.Wake) != 3 {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := ReadConfig(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing configuration: %v, want fs.ErrNotExist", err)
	}
	link := filepath.Join(dir, "link.json")
	os.Symlink(path, link)
	if _, err := ReadConfig(link); err == nil {
		t.Error("read the configuration through a link")
	}
	os.Chmod(path, 0o666)
	if _, err := ReadConfig(path); err == nil {
		t.Error("read a configuration others can write")
	}
	os.Chmod(path, 0o600)
	os.Chown(path, 65534, 65534)
	if _, err := ReadConfig(path); err == nil {
		t.Error("read a configuration of nobody's")
	}
}

// The running agent reads the configuration the charm writes, and across an upgrade the two
// are of different revisions: the file keeps the names it always had.
func TestConfigFormat(t *testing.T) {
	const old = `{"unit": "postgresql/1", "cluster": {"version": "15", "name": "main", "data-dir": "/srv/pgdata/15/main",
		"conf-dir": "/etc/postgresql/15/main", "socket-dir": "/var/run/postgresql", "port": 5432}}`
	var c Config
	if err := json.Unmarshal([]byte(old), &c); err != nil {
		t.Fatal(err)
	}
	want := Cluster{Version: "15", Name: "main", DataDir: "/srv/pgdata/15/main", ConfDir: "/etc/postgresql/15/main",
		SocketDir: "/var/run/postgresql", Port: 5432}
	if c.Cluster != want {
		t.Errorf("read %+v, want %+v", c.Cluster, want)
	}
	b, err := json.Marshal(c.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"version":"15","name":"main","data-dir":"/srv/pgdata/15/main","conf-dir":"/etc/postgresql/15/main","socket-dir":"/var/run/postgresql","port":5432}` {
		t.Errorf("written as %s", got)
	}
}
