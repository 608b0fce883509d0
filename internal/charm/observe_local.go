package charm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/safefs"
	"github.com/pgcharm/postgresql/internal/wal"
)

const clusterName = "main"

// localFacts is what the unit knows about its own PostgreSQL.
type localFacts struct {
	Version     string
	FullVersion string
	Cluster     *postgres.Cluster // nil until configured
	DataDir     string            // where the database lives (or will)
	DataVersion string
	HasData     bool
	// Partial says the data directory holds PG_VERSION but no global/pg_control: a copy
	// whose clone was killed half-way (pg_basebackup sends the control file last), never
	// a database.
	Partial bool
	Running bool
	Standby bool
	Server  *postgres.Facts       // while running
	Control *postgres.ControlData // while stopped with data
	// ConfProblem says that postgresql.conf (postgres's file) names another data directory
	// than this unit's: the unit blocks and root acts on nothing that file names.
	ConfProblem string

	// Interrupted is what an interrupted wal-e-restore left (plan.InterruptedRestore);
	// staleRestore says its record changed nothing and can go.
	Interrupted  string
	staleRestore bool

	needsRestart bool // settings written that only a restart applies

	// Streaming are the standbys (by application_name) streaming from this server, while
	// it runs out of recovery: the healthy members of its quorum commit. Slots are its
	// replication slots then.
	Streaming []string
	Slots     []string
	// History is its timeline's history then, which standbys on older timelines read to
	// follow it without a rewind.
	History []wal.HistoryEntry
}

// stateDataDir is the unit state key recording the data directory of the cluster the charm
// created or adopted. Only the charm (root, through Juju) writes it; postgresql.conf belongs
// to postgres, and any superuser can rewrite it (COPY ... TO PROGRAM), so root never takes a
// path from there.
const stateDataDir = "data-dir"

// unitDataDir is where this unit's database lives: for a configured cluster what the charm
// recorded when it made it, else what it derives from the storage and version.
func unitDataDir(version, storage string, configured bool) string {
	if v, err := goops.GetState(stateDataDir); configured && err == nil && v != "" && safefs.CheckPath(v) == nil {
		return v
	}
	if storage != "" {
		return postgres.StorageDataDir(filepath.Clean(storage), version, clusterName)
	}
	return postgres.DefaultDataDir(version, clusterName)
}

// recordDataDir remembers the data directory of the cluster just made.
func recordDataDir(dir string) error { return goops.SetState(stateDataDir, dir) }

// installedVersion is the major version this unit runs: fixed at install time (kept in
// the unit's Juju state) so that a later change of the version option cannot swap the
// server under the data.
func installedVersion(ctx context.Context, cfg Config) (version string, fixed bool, err error) {
	if v, err := goops.GetState("version"); err == nil && v != "" {
		return v, true, nil
	}
	if cfg.Version != "" {
		return cfg.Version, false, nil
	}
	v, err := postgres.DefaultVersion(ctx)
	return v, false, err
}

func observeLocal(ctx context.Context, version, storage string) (*localFacts, error) {
	l := &localFacts{Version: version}
	c, err := postgres.Lookup(version, clusterName)
	l.DataDir = unitDataDir(version, storage, err == nil)
	if err := safefs.CheckPath(l.DataDir); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	switch {
	case errors.Is(err, postgres.ErrNoCluster):
	case err != nil:
		return nil, err
	default:
		if c.DataDir != l.DataDir {
			l.ConfProblem = fmt.Sprintf("%s/postgresql.conf sets data_directory to %q, not this unit's %s: "+
				"someone edited it; set it back (the charm acts on nothing that file names)", c.ConfDir, c.DataDir, l.DataDir)
		}
		if err := safefs.CheckPath(c.SocketDir); err != nil {
			l.ConfProblem = fmt.Sprintf("%s/postgresql.conf: unix_socket_directories: %v", c.ConfDir, err)
			c.SocketDir = "/var/run/postgresql"
		}
		c.DataDir = l.DataDir
		l.Cluster = c
	}
	if l.DataVersion, l.HasData, err = postgres.HasDatabase(l.DataDir); err != nil {
		return nil, fmt.Errorf("observe %s: %w", l.DataDir, err)
	}
	if l.HasData {
		if l.Partial, err = partialCopy(l.DataDir); err != nil {
			return nil, fmt.Errorf("observe %s: %w", l.DataDir, err)
		}
	}
	m, err := readRestoreMarker()
	if err != nil {
		return nil, err
	}
	l.Interrupted, l.staleRestore = plan.InterruptedRestore(m)
	if l.FullVersion, err = postgres.FullVersion(ctx, version); err != nil {
		l.FullVersion = version
	}
	if l.Cluster == nil || !l.HasData {
		return l, nil
	}
	if l.Running, err = postgres.IsRunning(ctx, l.Cluster); err != nil {
		return nil, err
	}
	if l.Standby, err = postgres.IsStandbyConfigured(l.Cluster); err != nil {
		return nil, err
	}
	if l.Running {
		db, err := postgres.Connect(ctx, l.Cluster, "postgres")
		if err != nil {
			return nil, err
		}
		defer db.Close(ctx)
		if l.Server, err = db.Facts(ctx); err != nil {
			return nil, err
		}
		l.Standby = l.Standby || l.Server.InRecovery
		pending, err := db.PendingRestart(ctx)
		if err != nil {
			return nil, err
		}
		l.needsRestart = len(pending) > 0
		if !l.Server.InRecovery {
			if l.History, err = db.TimelineHistory(ctx, l.Server.Timeline); err != nil {
				return nil, err
			}
			stats, err := db.Replication(ctx)
			if err != nil {
				return nil, fmt.Errorf("quorum commit: %w", err)
			}
			for _, s := range stats {
				if s.State == "streaming" {
					l.Streaming = append(l.Streaming, s.ApplicationName)
				}
			}
			slots, err := db.Slots(ctx)
			if err != nil {
				return nil, err
			}
			for _, s := range slots {
				l.Slots = append(l.Slots, s.Name)
			}
		}
		return l, nil
	}
	if l.DataVersion == version {
		if l.Control, err = postgres.ReadControlData(ctx, l.Cluster); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// planLocal turns the facts into the decision's input.
func (l *localFacts) planLocal(self, following, restore string) plan.Local {
	p := plan.Local{Self: self, Version: l.Version, FullVersion: l.FullVersion, DataVersion: l.DataVersion,
		HasData: l.HasData && !l.Partial, Partial: l.Partial, Running: l.Running, Standby: l.Standby, Following: following, Restore: restore,
		Interrupted: l.Interrupted}
	switch {
	case l.Server != nil:
		p.SystemID = l.Server.SystemIdentifier
		p.Timeline = uint32(l.Server.Timeline)
		p.LSN = max(l.Server.CurrentLSN, l.Server.FlushLSN)
	case l.Control != nil:
		p.SystemID = l.Control.SystemIdentifier
		p.Timeline = uint32(l.Control.TimelineID)
		p.LSN = max(l.Control.CheckpointLSN, l.Control.MinRecoveryLSN)
	}
	return p
}

// report is what this unit publishes to its peers.
func (l *localFacts) report(address, following, restore string) plan.UnitReport {
	p := l.planLocal("", following, restore)
	r := plan.UnitReport{Address: address, Role: plan.RoleOf(p), HasData: p.HasData, SystemID: p.SystemID, Timeline: p.Timeline,
		LSN: p.LSN, Version: l.Version, Following: following, Restore: restore}
	if r.Role == plan.RolePrimary {
		r.Following, r.History = "", l.History
	}
	return r
}

// partialCopy says a data directory that holds PG_VERSION lacks global/pg_control: what a
// clone killed half-way leaves (pg_basebackup sends the control file last).
func partialCopy(dataDir string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dataDir, "global", "pg_control"))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return false, err
}
