package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartTimeout bounds how long Start waits for the server to accept
// connections (a standby replaying a long WAL backlog can take a while).
var StartTimeout = 5 * time.Minute

func ctl(ctx context.Context, c *Cluster, action string, extra ...string) error {
	args := []string{c.Version, c.Name, action}
	args = append(args, extra...)
	if _, err := run(ctx, cmdSpec{}, "pg_ctlcluster", args...); err != nil {
		return fmt.Errorf("%s cluster %s: %w", action, c, err)
	}
	return nil
}

// IsRunning reports whether the cluster's server runs. Like pg_ctl status
// it reads postmaster.pid and checks that the process lives and is a
// postgres server, but without starting a perl interpreter (pg_ctlcluster
// status costs ~50 ms, too much for every update-status).
func IsRunning(ctx context.Context, c *Cluster) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	data, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("status of cluster %s: %w", c, err)
	}
	lines := strings.Split(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return false, nil // being written or garbage: no server yet
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false, nil // stale pid file
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false, nil // exited meanwhile
	}
	if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
		return false, nil // the pid was reused
	}
	// The postmaster runs in its data directory. Comparing the directories
	// themselves (not paths, which differ between mount namespaces) tells a
	// stale pid file from a live server on another data directory.
	if cwd, err := os.Stat(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
		if dd, err := os.Stat(c.DataDir); err == nil && !os.SameFile(cwd, dd) {
			return false, nil
		}
	}
	return true, nil
}

// Start starts the server unless it runs, then waits until it accepts
// connections.
func Start(ctx context.Context, c *Cluster) error {
	running, err := IsRunning(ctx, c)
	if err != nil {
		return err
	}
	if err := ManualStart(c); err != nil {
		return err
	}
	if !running {
		// The extra options make pg_ctlcluster start the server itself even when systemd
		// runs (it would otherwise hand over to systemctl, whose Debian unit waits forever
		// for a server that failed to start: ExecStart=- and TimeoutStartSec=0), and pg_ctl
		// reports a server that exits during startup (a recovery target never reached) at
		// once. Stop and Restart pass options too, so they act on that server the same way.
		t := strconv.Itoa(int(StartTimeout / time.Second))
		if err := ctl(ctx, c, "start", "--", "-t", t); err != nil {
			return err
		}
	}
	return WaitReady(ctx, c)
}

// ManualStart makes the cluster's start.conf "manual": nothing starts the server at boot, so
// that after a reboot or a crash it runs only once the charm has decided the unit's role (an
// old primary started by systemd at boot would take writes beside the new one). pg_ctlcluster
// and systemctl still start it on request.
func ManualStart(c *Cluster) error {
	path := filepath.Join(ConfDir(c.Version, c.Name), "start.conf")
	if data, err := os.ReadFile(path); err == nil && startMode(string(data)) == "manual" {
		return nil
	}
	if _, err := writeFileAtomic(path, []byte("# Written by the PostgreSQL charm: the charm, not boot, starts this cluster.\nmanual\n"), 0o644, false); err != nil {
		return fmt.Errorf("start.conf of cluster %s: %w", c, err)
	}
	return nil
}

// startMode is the first word of start.conf that is not a comment (auto, manual, disabled).
func startMode(conf string) string {
	for _, l := range strings.Split(conf, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// StopMode is pg_ctl's shutdown mode.
type StopMode string

const (
	// StopFast disconnects clients and shuts down cleanly (a checkpoint).
	StopFast StopMode = "fast"
	// StopSmart waits for clients to disconnect.
	StopSmart StopMode = "smart"
	// StopImmediate aborts; the next start runs crash recovery. pg_rewind
	// needs a clean shutdown, so avoid it before rewinding.
	StopImmediate StopMode = "immediate"
)

// Stop stops the server if it runs.
func Stop(ctx context.Context, c *Cluster, mode StopMode) error {
	if mode == "" {
		mode = StopFast
	}
	running, err := IsRunning(ctx, c)
	if err != nil || !running {
		return err
	}
	return ctl(ctx, c, "stop", "-m", string(mode))
}

// Restart restarts the server (fast shutdown), starting it if stopped, and
// waits until it accepts connections.
func Restart(ctx context.Context, c *Cluster) error {
	running, err := IsRunning(ctx, c)
	if err != nil {
		return err
	}
	if !running {
		return Start(ctx, c)
	}
	t := strconv.Itoa(int(StartTimeout / time.Second))
	if err := ctl(ctx, c, "restart", "-m", "fast", "--", "-t", t); err != nil {
		return err
	}
	return WaitReady(ctx, c)
}

// Reload makes a running server re-read its configuration files (a stopped
// one reads them when it starts). DB.ReloadConf does the same and reports
// which settings wait for a restart.
func Reload(ctx context.Context, c *Cluster) error {
	running, err := IsRunning(ctx, c)
	if err != nil || !running {
		return err
	}
	return ctl(ctx, c, "reload")
}

// WaitReady waits until the server accepts connections from the hook (a
// standby in hot standby counts), or ctx ends.
func WaitReady(ctx context.Context, c *Cluster) error {
	var last error
	for {
		db, err := Connect(ctx, c, "postgres")
		if err == nil {
			err = db.conn.Ping(ctx)
			db.Close(ctx)
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for cluster %s to accept connections: %w (last error: %v)", c, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Promote turns a standby into a primary: pg_ctl promote, then waits until
// it leaves recovery and accepts writes, checkpoints (so that pg_rewind of
// the old primary sees the new timeline at once), and removes the standby
// settings so that a restart cannot resume following the old primary.
//
// Promoting a server that already is a primary only tidies the standby
// settings, so a repeated hook changes nothing.
func Promote(ctx context.Context, c *Cluster) error {
	db, err := Connect(ctx, c, "postgres")
	if err != nil {
		return fmt.Errorf("promote cluster %s: %w", c, err)
	}
	var inRecovery bool
	err = db.conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	db.Close(ctx)
	if err != nil {
		return fmt.Errorf("promote cluster %s: %w", c, err)
	}
	if !inRecovery {
		if err := RemoveStandbyConfig(c); err != nil {
			return fmt.Errorf("promote cluster %s: %w", c, err)
		}
		return nil
	}
	if err := ctl(ctx, c, "promote"); err != nil {
		return err
	}
	for {
		db, err := Connect(ctx, c, "postgres")
		if err == nil {
			var inRecovery bool
			err = db.conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
			if err == nil && !inRecovery {
				// Until a checkpoint records the new timeline in the
				// control file, pg_rewind against this server sees the
				// old one and wrongly finds nothing to rewind.
				err = db.Checkpoint(ctx)
				db.Close(ctx)
				if err != nil {
					return fmt.Errorf("promote cluster %s: %w", c, err)
				}
				break
			}
			db.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("promote cluster %s: waiting for the end of recovery: %w", c, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := RemoveStandbyConfig(c); err != nil {
		return fmt.Errorf("promote cluster %s: %w", c, err)
	}
	return nil
}
