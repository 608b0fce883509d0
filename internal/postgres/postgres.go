// Package postgres drives the unit's local PostgreSQL server through the
// Debian tools (pg_createcluster, pg_ctlcluster), the files those tools leave
// to us (conf.d includes, pg_hba.conf, pg_ident.conf, standby.signal) and SQL
// over the unix socket. It observes and acts; deciding what to do is the
// charm's business.
//
// Hooks run as root while every file of a cluster must belong to the postgres
// user, so commands that write into a data directory run through
// `runuser -u postgres --` (sudo is not installed on the target machines) and
// files written here are chowned to postgres.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/safefs"
)

// OSUser owns every cluster file and runs the server.
const OSUser = "postgres"

// CommandError reports a failed external command with what it printed on
// stderr, which is where the PostgreSQL tools explain themselves.
type CommandError struct {
	Cmd      string // program and arguments, never containing secrets
	ExitCode int
	Stderr   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Cmd, e.Err, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// CommandHook, when set, is called after each external command this package
// runs, with its arguments (which never hold secrets) and how long it took:
// the charm uses it to tell time spent in PostgreSQL tools from its own.
var CommandHook func(argv []string, elapsed time.Duration)

type cmdSpec struct {
	env    []string  // added to the environment
	stderr io.Writer // also receives stderr when set (progress output)
	asPG   bool      // run as the postgres OS user
}

// run executes a command and returns its stdout. Arguments must never hold
// secrets: /proc/<pid>/cmdline is world-readable.
func run(ctx context.Context, spec cmdSpec, name string, args ...string) ([]byte, error) {
	argv := append([]string{name}, args...)
	if spec.asPG && os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", OSUser, "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Its own process group, so that cancelling reaches what runuser and
	// the perl wrappers start (pg_basebackup, pg_rewind) and not only the
	// wrapper; SIGTERM lets them clean up, SIGKILL follows if they do not.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	// The postgres user cannot enter root's working directory; the tools
	// warn or fail when they cannot.
	cmd.Dir = "/"
	if hook := CommandHook; hook != nil {
		start := time.Now()
		defer func() { hook(argv, time.Since(start)) }()
	}
	// Never the hook's environment: the server started here inherits it for its lifetime
	// (proxies with credentials, JUJU_* included).
	cmd.Env = ChildEnv(spec.asPG, spec.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if spec.stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, spec.stderr)
	} else {
		cmd.Stderr = &stderr
	}
	err := cmd.Run()
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return stdout.Bytes(), &CommandError{Cmd: strings.Join(argv, " "), ExitCode: code, Stderr: stderr.String() + stdout.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// ChildEnv is the whole environment of a command the charm starts: a fixed PATH, the C
// locale, HOME of the user it runs as (postgres or root), and extra.
func ChildEnv(asPostgres bool, extra ...string) []string {
	home := "/root"
	if asPostgres {
		home = "/var/lib/postgresql"
	}
	return append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C",
		"HOME=" + home}, extra...)
}

// UserIDs returns the uid and gid of the postgres OS user.
func UserIDs() (int, int, error) {
	u, err := user.Lookup(OSUser)
	if err != nil {
		return 0, 0, fmt.Errorf("look up OS user %s: %w", OSUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("uid of %s: %w", OSUser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("gid of %s: %w", OSUser, err)
	}
	return uid, gid, nil
}

// writeFileAtomic replaces path with data (atomicfile.WriteIfChanged), so that PostgreSQL
// never reads a half-written file; owned gives it to postgres (when running as root). It
// reports whether the content changed.
func writeFileAtomic(path string, data []byte, perm os.FileMode, owned bool) (bool, error) {
	var owner *atomicfile.Owner
	if owned && os.Geteuid() == 0 {
		uid, gid, err := UserIDs()
		if err != nil {
			return false, err
		}
		owner = &atomicfile.Owner{UID: uid, GID: gid}
	}
	return atomicfile.WriteIfChanged(path, data, perm, owner)
}

// chownDir gives the directory at path (not a link there) to postgres (root only).
func chownDir(path string) error {
	d, err := safefs.OpenDir(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return chownOpen(d)
}

// chownOpen gives an open directory to postgres (root only).
func chownOpen(d *safefs.Dir) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := UserIDs()
	if err != nil {
		return err
	}
	return d.Chown(&safefs.Owner{UID: uid, GID: gid})
}

// chownPostgres gives path to the postgres user (root only; a no-op otherwise).
func chownPostgres(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := UserIDs()
	if err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}
