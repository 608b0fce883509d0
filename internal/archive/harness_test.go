package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/store"
)

// The integration tests run real PostgreSQL 15 clusters (initdb in temporary directories, own
// unix socket directories) as user postgres, with our binary as archive_command and
// restore_command. They need root (to become postgres).

const pgBin = "/usr/lib/postgresql/15/bin"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	pgUID     uint32
	pgGID     uint32
)

// needPG skips unless the host can run the integration tests, and builds the binary once.
func needPG(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run PostgreSQL clusters as user postgres")
	}
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		t.Skipf("needs PostgreSQL 15 server binaries in %s (apt install postgresql-15)", pgBin)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("needs the postgres user (apt install postgresql-15)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	pgUID, pgGID = uint32(uid), uint32(gid)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "archive-bin-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "pgcharm-archive")
		args := []string{"build", "-o", binPath}
		if os.Getenv("ARCHIVE_TEST_RACE") != "" {
			args = append(args, "-race") // the binary PostgreSQL runs, under the race detector
		}
		out, err := exec.Command("go", append(args, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// baseDir is a directory postgres can use, removed after the test.
func baseDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "archive-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, int(pgUID), int(pgGID))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// asPostgres prepares a command that runs as postgres.
func asPostgres(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: pgUID, Gid: pgGID}, Setpgid: true}
	cmd.Env = []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC"}
	cmd.Dir = "/"
	return cmd
}

// run runs a command as postgres and returns stdout, stderr and the exit code (-1: did not run).
func run(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := asPostgres(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return out.String(), errb.String(), code
}

// must runs a command as postgres and fails the test unless it exits 0.
func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, errs, code := run(t, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s\n%s", name, strings.Join(args, " "), code, out, errs)
	}
	return out
}

// tool runs our binary as postgres.
func tool(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return run(t, binPath, args...)
}

func mustTool(t *testing.T, args ...string) string {
	t.Helper()
	return must(t, binPath, args...)
}

// writeConfig writes an archive configuration file as the charm would (0600, postgres).
func writeConfig(t *testing.T, path, uri string, creds store.Credentials) {
	t.Helper()
	cfg := archive.Config{Credentials: creds, URI: uri}
	b, _ := json.Marshal(cfg)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(tmp, int(pgUID), int(pgGID))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type cluster struct {
	t    *testing.T
	name string
	dir  string
	sock string
	log  string
}

// newCluster runs initdb for a new cluster under base.
func newCluster(t *testing.T, base, name string) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, dir: filepath.Join(base, name), sock: filepath.Join(base, name+"-sock"), log: filepath.Join(base, name+".log")}
	must(t, filepath.Join(pgBin, "initdb"), "-D", c.dir, "-A", "trust", "-U", "postgres", "--no-instructions", "-E", "UTF8", "--no-sync")
	c.prepareSock()
	c.conf("listen_addresses = ''", "unix_socket_directories = '"+c.sock+"'", "fsync = off", "synchronous_commit = off",
		"max_wal_size = '256MB'", "log_min_messages = info", "shared_buffers = '32MB'")
	return c
}

// adopt wraps a restored data directory.
func adopt(t *testing.T, base, name string) *cluster {
	c := &cluster{t: t, name: name, dir: filepath.Join(base, name), sock: filepath.Join(base, name+"-sock"), log: filepath.Join(base, name+".log")}
	c.prepareSock()
	return c
}

func (c *cluster) prepareSock() {
	os.MkdirAll(c.sock, 0o755)
	os.Chown(c.sock, int(pgUID), int(pgGID))
}

// conf appends settings to postgresql.auto.conf (later lines win).
func (c *cluster) conf(lines ...string) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(strings.Join(lines, "\n") + "\n")
	os.Chown(f.Name(), int(pgUID), int(pgGID))
}

func (c *cluster) start() {
	c.t.Helper()
	_, _, code := run(c.t, filepath.Join(pgBin, "pg_ctl"), "-D", c.dir, "-l", c.log, "-w", "-t", "120", "start")
	if code != 0 {
		b, _ := os.ReadFile(c.log)
		c.t.Fatalf("start %s: exit %d\n%s", c.name, code, b)
	}
	c.t.Cleanup(c.stop)
}

func (c *cluster) stop() {
	run(c.t, filepath.Join(pgBin, "pg_ctl"), "-D", c.dir, "-m", "immediate", "-w", "stop")
}

// sql runs statements through psql and returns unaligned output.
func (c *cluster) sql(q string) string {
	c.t.Helper()
	out, errs, code := run(c.t, filepath.Join(pgBin, "psql"), "-h", c.sock, "-U", "postgres", "-d", "postgres", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", q)
	if code != 0 {
		c.t.Fatalf("%s: %s: exit %d: %s", c.name, q, code, errs)
	}
	return strings.TrimSpace(out)
}

func (c *cluster) sysid() string { return c.sql("SELECT system_identifier FROM pg_control_system()") }

// waitArchived waits until PostgreSQL has no file left to archive.
func (c *cluster) waitArchived() {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	nudge := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c.sql("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'") == "0" {
			return
		}
		if time.Now().After(nudge) {
			// After failures the archiver pauses up to a minute; a reload wakes it.
			c.sql("SELECT pg_reload_conf()")
			nudge = time.Now().Add(2 * time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: archiving did not catch up: %s", c.name, c.sql("SELECT * FROM pg_stat_archiver"))
}

// waitPromoted waits until a restored cluster has left recovery.
func (c *cluster) waitPromoted() {
	c.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		out, _, code := run(c.t, filepath.Join(pgBin, "psql"), "-h", c.sock, "-U", "postgres", "-d", "postgres", "-X", "-At", "-c", "SELECT pg_is_in_recovery()")
		if code == 0 && strings.TrimSpace(out) == "f" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(c.log)
	c.t.Fatalf("%s did not finish recovery:\n%s", c.name, b)
}

func (c *cluster) logText() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// archiveSettings makes the cluster archive with our binary and the configuration file cfg
// through the archive_command the charm sets for uri (with its shell fast path for files
// uploaded ahead; none when uri is empty). Appended lines win: reload to switch archives.
func (c *cluster) archiveSettings(cfg, uri string) {
	cmd := archive.ArchiveCommand(binPath, cfg, uri)
	c.conf("archive_mode = on", "wal_level = replica",
		"archive_command = '"+strings.ReplaceAll(cmd, "'", "''")+"'")
}

// pgbench runs a write load for d.
func (c *cluster) pgbench(ctx context.Context, d time.Duration) error {
	cmd := asPostgres(filepath.Join(pgBin, "pgbench"), "-h", c.sock, "-U", "postgres", "-n", "-c", "2", "-T",
		strconv.Itoa(int(d.Seconds())), "postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	return nil
}

// restoreTo restores with our CLI into base/name and starts the result (archiving off) until
// it has left recovery.
func restoreTo(t *testing.T, base, name, cfg string, extra ...string) *cluster {
	t.Helper()
	args := append([]string{"restore", "--config", cfg}, extra...)
	out := mustTool(t, append(args, filepath.Join(base, name))...)
	t.Logf("restore %s:\n%s", name, out)
	c := adopt(t, base, name)
	c.conf("unix_socket_directories = '"+c.sock+"'", "archive_mode = off", "listen_addresses = ''")
	c.start()
	c.waitPromoted()
	return c
}
