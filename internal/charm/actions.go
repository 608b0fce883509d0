package charm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Actions run as hooks do: observeAction gathers what the action decides on, a pure
// function of plan (mostly plan/actions.go) decides whether this unit may run it and on
// what, refusing bad parameters before anything changes, and the handler acts (the
// read-only wal-e-list-backups and wal-e-verify decide nothing; wal-e-restore-undo decides
// from the restore marker itself). An action that
// changes what hooks decide on (a primary recorded, a database restored) ends by running
// the hooks' pipeline (reconcile), as the hook its change wakes would.

// actionHandlers is every action of actions.yaml and its handler, in one place (a test
// checks that the two agree).
var actionHandlers = map[string]func(context.Context) error{
	"get-primary":         primaryInfo,
	"switchover":          switchover, // actions_switchover.go
	"replication-pause":   func(ctx context.Context) error { return replication(ctx, true) },
	"replication-resume":  func(ctx context.Context) error { return replication(ctx, false) },
	"remove-old-data":     removeOldData,
	"wal-e-backup":        walEBackup, // actions_archive.go, as the other wal-e-* actions
	"wal-e-list-backups":  walEListBackups,
	"wal-e-restore":       walERestore,
	"wal-e-restore-point": walERestorePoint,
	"wal-e-restore-undo":  walERestoreUndo, // restoremarker.go
	"wal-e-verify":        walEVerify,
}

// primaryInfo is the get-primary action: the primary unit and where it listens.
func primaryInfo(ctx context.Context) error {
	o, _, err := observeAction("get-primary")
	if err != nil {
		return err
	}
	primary, addr, refused := plan.PrimaryEndpoint(o)
	if refused != "" {
		return errors.New(refused)
	}
	res := map[string]string{"primary": primary}
	if addr != "" {
		res["address"] = addr
		res["endpoint"] = pgclient.Endpoints([]string{addr}, strconv.Itoa(pgPort))[0]
	}
	return goops.SetActionResults(res)
}

// replication pauses or resumes WAL replay on a hot standby.
func replication(ctx context.Context, pause bool) error {
	name := "replication-resume"
	if pause {
		name = "replication-pause"
	}
	o, m, err := observeAction(name)
	if err != nil {
		return err
	}
	if err := observeActionServer(ctx, &o, m); err != nil {
		return err
	}
	f := m.local.Server
	if f == nil {
		f = &postgres.Facts{}
	}
	d := plan.DecideReplay(pause, o.Configured, o.Local.Running, f.InRecovery, f.ReplayPaused)
	if d.Refused != "" {
		return errors.New(d.Refused)
	}
	if d.Act {
		db, err := postgres.Connect(ctx, m.local.Cluster, "postgres")
		if err != nil {
			return fmt.Errorf("%s: %w", plan.NotStandby, err)
		}
		defer db.Close(ctx)
		if pause {
			err = db.PauseReplay(ctx)
		} else {
			err = db.ResumeReplay(ctx)
		}
		if err != nil {
			return err
		}
	}
	return goops.SetActionResults(map[string]string{"result": d.Result, "offset": f.ReplayLSN.String()})
}

// removeOldData deletes every kept copy on this unit now (olddata.go keeps them).
func removeOldData(ctx context.Context) error {
	var p struct {
		Confirm bool `json:"confirm"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	o, m, err := observeAction("remove-old-data")
	if err != nil {
		return err
	}
	if err := observeActionServer(ctx, &o, m); err != nil {
		return err
	}
	list, err := postgres.ListMovedAside(m.local.DataDir)
	if err != nil {
		return err
	}
	var paths []string
	var total int64
	for _, c := range list {
		n, _ := postgres.DirSize(c.Path)
		total += n
		paths = append(paths, c.Path)
	}
	res := map[string]string{"old-data": strings.Join(paths, " "), "bytes": strconv.FormatInt(total, 10)}
	if len(paths) == 0 {
		res["old-data"] = "none"
		return goops.SetActionResults(res)
	}
	if refused := plan.RefuseRemoveOldData(paths, p.Confirm); refused != "" {
		_ = goops.SetActionResults(res)
		return errors.New(refused)
	}
	for _, path := range paths {
		_ = goops.ActionLogf("removing %s", path)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove %s: %w", path, err)
		}
	}
	res["removed"] = "true"
	_ = goops.SetState(stateOldDataSizes, "")
	return goops.SetActionResults(res)
}
