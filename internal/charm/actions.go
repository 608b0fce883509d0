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

// switchover makes another unit primary without losing data: the leader records it, the
// old primary stops (sending its last WAL to the standbys), the new one promotes once the
// old one reports it stopped, and the old one rewinds to follow.
func switchover(ctx context.Context) error {
	var p struct {
		Master string `json:"master"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	if !j.Leader {
		return errors.New("switchover must be run on the leader unit")
	}
	app := parseAppState(j.AppBag)
	if p.Master == app.Primary {
		return goops.SetActionResults(map[string]string{"result": p.Master + " is already master"})
	}
	var hasData bool
	if data, ok := j.Peers[p.Master]; ok {
		rep, _ := parseUnitReport(p.Master, data)
		hasData = rep.HasData
	} else if p.Master == j.Unit {
		hasData = j.Self[keyHasData] == "true"
	} else {
		return fmt.Errorf("%s is not a unit of this application", p.Master)
	}
	if !hasData {
		return fmt.Errorf("%s holds no database yet; wait until it is a live secondary", p.Master)
	}
	app.Primary = p.Master
	if err := relationSet(j.PeerID, true, app.data()); err != nil {
		return err
	}
	// The leader's own write wakes every unit but itself: when it is the old primary it
	// steps down here, as any hook would.
	if err := reconcile(ctx, "switchover"); err != nil {
		return err
	}
	return goops.SetActionResults(map[string]string{"result": "Initiated switchover of master to " + p.Master})
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
