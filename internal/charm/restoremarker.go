package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// charmStateDir holds what the charm must find again after being killed half-way, where
// only root reaches (not postgres's home, whose owner could replace what is there). Juju's
// unit state would not do: an action's state-set is committed only when the action ends.
const charmStateDir = "/var/lib/juju-postgresql"

// restoreMarkerPath records a wal-e-restore in progress (plan.RestoreMarker).
var restoreMarkerPath = filepath.Join(charmStateDir, "restore.json")

func readRestoreMarker() (*plan.RestoreMarker, error) {
	b, err := os.ReadFile(restoreMarkerPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the restore record: %w", err)
	}
	var m plan.RestoreMarker
	if err := json.Unmarshal(b, &m); err != nil {
		// A record cut short by a crash while it was written: the restore had not
		// changed anything yet (each phase is recorded before it begins).
		return &plan.RestoreMarker{Phase: plan.RestoreStarted}, nil
	}
	return &m, nil
}

// writeRestoreMarker records the phase a restore enters, durably, before it enters it.
func writeRestoreMarker(m plan.RestoreMarker) error {
	if err := os.MkdirAll(charmStateDir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(charmStateDir, ".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), restoreMarkerPath); err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	d, err := os.Open(charmStateDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func removeRestoreMarker() error { return removeIfExists(restoreMarkerPath) }

// keptByInterruptedRestore is the old data directory an interrupted restore kept aside,
// when it is still there: a new restore (or a standby's re-clone) must keep it, never move
// the partial copy aside in its place (only the newest copy of a kind is kept).
func keptByInterruptedRestore() (string, error) {
	m, err := readRestoreMarker()
	if err != nil || m == nil || m.Moved == "" {
		return "", err
	}
	if fi, err := os.Lstat(m.Moved); err != nil || !fi.IsDir() {
		return "", nil
	}
	return m.Moved, nil
}

// putBackOldData replaces what a restore left in the data directory by the database it
// moved aside, and removes the restore's recovery settings and record: the unit is as it
// was before the restore (stopped).
func putBackOldData(ctx context.Context, c *postgres.Cluster, moved string) error {
	if err := postgres.Stop(ctx, c, postgres.StopImmediate); err != nil {
		return err
	}
	failed := c.DataDir + ".failed-restore-" + time.Now().UTC().Format("20060102T150405")
	if err := os.Rename(c.DataDir, failed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(moved, c.DataDir); err != nil {
		return err
	}
	if err := os.RemoveAll(failed); err != nil {
		goops.LogWarningf("remove the failed restore %s: %v", failed, err)
	}
	_ = removeIfExists(filepath.Join(c.ConfDir, "conf.d", recoveryConfName))
	_ = removeIfExists(restoreConfigPath)
	return removeRestoreMarker()
}

// walERestoreUndo puts back the database an interrupted wal-e-restore moved aside.
func walERestoreUndo(ctx context.Context) error {
	m, err := readRestoreMarker()
	if err != nil {
		return err
	}
	if m == nil || m.Phase == plan.RestoreStarted {
		return errors.New("no interrupted wal-e-restore on this unit: nothing to put back")
	}
	if m.Moved == "" {
		return fmt.Errorf("the interrupted restore of %s found no database here to move aside: nothing to put back; run wal-e-restore again", m.Backup)
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	version, _, err := installedVersion(ctx, j.Config)
	if err != nil {
		return err
	}
	l, err := observeLocal(ctx, version, j.Storage)
	if err != nil {
		return err
	}
	if l.ConfProblem != "" {
		return errors.New(l.ConfProblem)
	}
	if l.Cluster == nil {
		return errors.New("PostgreSQL is not set up on this unit")
	}
	// Only a copy kept beside this unit's own data directory is put back.
	list, err := postgres.ListMovedAside(l.DataDir)
	if err != nil {
		return err
	}
	found := false
	for _, a := range list {
		found = found || a.Path == m.Moved
	}
	if !found {
		return fmt.Errorf("%s, where the restore kept the old data, is not beside %s any more: nothing to put back", m.Moved, l.DataDir)
	}
	_ = goops.ActionLogf("putting back %s as %s", m.Moved, l.DataDir)
	if err := putBackOldData(ctx, l.Cluster, m.Moved); err != nil {
		return fmt.Errorf("put back %s: %w", m.Moved, err)
	}
	if err := reconcile(ctx, "wal-e-restore-undo"); err != nil {
		return fmt.Errorf("put back, but the follow-up failed: %w", err)
	}
	return goops.SetActionResults(map[string]string{"put-back": m.Moved, "data-dir": l.DataDir, "backup-name": m.Backup})
}
