package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/safefs"
	"github.com/pgcharm/postgresql/internal/wal"
)

// RecoveryConfName is the conf.d file holding the settings of a recovery in progress
// (restore_command and the target); Recover removes it once the server is promoted.
const RecoveryConfName = "juju-recovery.conf"

// RecoverOptions says how to replay archived WAL into a restored data directory.
type RecoverOptions struct {
	Settings pgconf.Settings // restore_command and the recovery target settings
	Timeout  time.Duration   // how long replay may take (default 30 minutes)
	Progress func(wal.LSN)   // called every few seconds with the position replayed
	Owner    *safefs.Owner   // recovery.signal's owner (default: postgres when root)
	poll     time.Duration
}

// Recover replays archived WAL into the cluster's data directory, which holds a base
// backup just fetched, up to the recovery target, and leaves the server running as a
// primary on a new timeline, without the recovery settings. The server steps of a
// point-in-time restore, in order: the standby settings go, the recovery settings and
// recovery.signal are written (a link planted where recovery.signal goes, by whoever
// wrote the backup, is replaced, never followed), the server starts and replays, and once
// it has promoted it restarts without the targets (they only take effect at start-up, so
// a reload would leave them pending). A server that stops during replay (its target not
// in the archive) is an error naming its log; the caller puts the old data back.
func Recover(ctx context.Context, c *Cluster, o RecoverOptions) (*Facts, error) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.poll == 0 {
		o.poll = 500 * time.Millisecond
	}
	owner := o.Owner
	if owner == nil && os.Geteuid() == 0 {
		uid, gid, err := UserIDs()
		if err != nil {
			return nil, err
		}
		owner = &safefs.Owner{UID: uid, GID: gid}
	}
	if err := RemoveStandbyConfig(c); err != nil {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	if _, err := WriteConf(c, RecoveryConfName, o.Settings); err != nil {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	if err := safefs.CheckPath(c.DataDir); err != nil {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	d, err := safefs.OpenDir(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	err = d.WriteFile("recovery.signal", nil, 0o600, owner)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("recover %s: recovery.signal: %w", c, err)
	}
	if err := Start(ctx, c); err != nil {
		return nil, fmt.Errorf("recover %s: start: %w", c, err)
	}
	f, err := waitPromoted(ctx, c, o)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	if err := os.Remove(filepath.Join(c.ConfDir, "conf.d", RecoveryConfName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("recover %s: %w", c, err)
	}
	if err := Restart(ctx, c); err != nil {
		return nil, fmt.Errorf("recover %s: restart without the recovery targets: %w", c, err)
	}
	return f, nil
}

// waitPromoted polls the recovering server until it left recovery.
func waitPromoted(ctx context.Context, c *Cluster, o RecoverOptions) (*Facts, error) {
	deadline := time.Now().Add(o.Timeout)
	var lastProgress time.Time
	for time.Now().Before(deadline) {
		running, err := IsRunning(ctx, c)
		if err != nil {
			return nil, err
		}
		if !running {
			return nil, fmt.Errorf("PostgreSQL stopped during recovery (target not reached?); see %s", c.LogFile())
		}
		if db, err := Connect(ctx, c, "postgres"); err == nil {
			f, err := db.Facts(ctx)
			db.Close(ctx)
			if err == nil && !f.InRecovery {
				return f, nil
			}
			if err == nil && o.Progress != nil && time.Since(lastProgress) > 5*time.Second {
				o.Progress(f.ReplayLSN)
				lastProgress = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.poll):
		}
	}
	return nil, fmt.Errorf("recovery did not finish within %s; see %s", o.Timeout, c.LogFile())
}
