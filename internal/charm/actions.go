package charm

import (
	"context"
	"errors"
	"fmt"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/postgres"
)

// actionHandlers is every action of actions.yaml and its handler, in one place (a test
// checks that the two agree).
var actionHandlers = map[string]func(context.Context) error{
	"get-primary":         primaryInfo,
	"switchover":          switchover,
	"replication-pause":   func(ctx context.Context) error { return replication(ctx, true) },
	"replication-resume":  func(ctx context.Context) error { return replication(ctx, false) },
	"remove-old-data":     removeOldData,
	"wal-e-backup":        walEBackup,
	"wal-e-list-backups":  walEListBackups,
	"wal-e-restore":       walERestore,
	"wal-e-restore-point": walERestorePoint,
	"wal-e-restore-undo":  walERestoreUndo,
	"wal-e-verify":        walEVerify,
}

// errNotStandby keeps the original charm's wording, which operators' runbooks match.
//
//lint:ignore ST1005 the original charm's action message
var errNotStandby = errors.New("Not a hot standby")

// replication pauses or resumes WAL replay on a hot standby.
func replication(ctx context.Context, pause bool) error {
	var cfg Config
	if err := goops.GetConfig(&cfg); err != nil {
		return err
	}
	version, _, err := installedVersion(ctx, cfg)
	if err != nil {
		return err
	}
	c, err := postgres.Lookup(version, clusterName)
	if err != nil {
		return fmt.Errorf("%w: PostgreSQL is not set up on this unit", errNotStandby)
	}
	db, err := postgres.Connect(ctx, c, "postgres")
	if err != nil {
		return fmt.Errorf("%w: %w", errNotStandby, err)
	}
	defer db.Close(ctx)
	f, err := db.Facts(ctx)
	if err != nil {
		return err
	}
	if !f.InRecovery {
		return errNotStandby
	}
	result := ""
	switch {
	case pause && f.ReplayPaused:
		result = "Already paused"
	case pause:
		err, result = db.PauseReplay(ctx), "Paused"
	case !f.ReplayPaused:
		result = "Already resumed"
	default:
		err, result = db.ResumeReplay(ctx), "Resumed"
	}
	if err != nil {
		return err
	}
	return goops.SetActionResults(map[string]string{"result": result, "offset": f.ReplayLSN.String()})
}
