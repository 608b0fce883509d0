package charm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/wal"
)

// A switchover loses nothing in two places:
//
//   - the action (on the leader) accepts it only once the target, streaming from the
//     primary with its replay running, has replayed the primary's position, measured on
//     both servers; a lagging target gets the action's timeout to catch up, a paused or
//     disconnected one fails the action with the reason and nothing changes;
//   - the target promotes only once it has replayed the old primary's final record (its
//     shutdown checkpoint, which the stopped primary publishes as its lsn): short of it,
//     it waits (catchUpWait per hook, again at every later hook) and says why, however
//     its replay came to fall behind after the action.

// switchoverTimeout is how long the action waits by default for the target to catch up.
const switchoverTimeout = 60 * time.Second

// switchover makes another unit primary without losing data: the leader records it once
// the target has caught up, the old primary stops (sending its last WAL to the standbys),
// the new one promotes once it has replayed that WAL (apply_steps.go, awaitFinalWAL), and the
// old one rewinds to follow.
func switchover(ctx context.Context) error {
	var p struct {
		Master  string `json:"master"`
		Timeout *int   `json:"timeout"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	o, m, err := observeAction("switchover")
	if err != nil {
		return err
	}
	d := plan.DecideSwitchover(o, p.Master, p.Timeout, switchoverTimeout)
	switch {
	case d.Refused != "":
		return errors.New(d.Refused)
	case d.Result != "":
		return goops.SetActionResults(map[string]string{"result": d.Result})
	}
	primaryLSN, targetLSN, err := caughtUp(ctx, o, m, d)
	if err != nil {
		return fmt.Errorf("switchover to %s refused, nothing changed (%s stays primary): %w", d.Target, d.Primary, err)
	}
	app := o.AppBag
	app.Primary = d.Target
	if err := relationSet(o.PeerRelation, true, app.Data()); err != nil {
		return err
	}
	// The leader's own write wakes every unit but itself: when it is the old primary it
	// steps down here, as any hook would.
	if err := reconcile(ctx, "switchover"); err != nil {
		return err
	}
	return goops.SetActionResults(map[string]string{
		"result":          "Initiated switchover of master to " + d.Target,
		"old-primary-lsn": primaryLSN.String(),
		"new-primary-lsn": targetLSN.String(),
	})
}

// position reads a unit's server for the switchover: a peer over TLS as the replication
// role, verified against the application's CA, this unit through its socket.
func position(ctx context.Context, o plan.Observed, m *means, unit string) (plan.ServerPosition, error) {
	var f *postgres.Facts
	var err error
	if unit == o.Unit {
		f, err = measureSelf(ctx, m.config)
	} else {
		rep, _ := plan.ParseUnitReport(unit, o.Peers[unit])
		if rep.Address == "" {
			return plan.ServerPosition{}, fmt.Errorf("%s has not published its address", unit)
		}
		if f, err = measurePeer(ctx, rep.Address, m.password, m.ca); err != nil {
			err = fmt.Errorf("measure %s: %w", unit, err)
		}
	}
	if err != nil {
		return plan.ServerPosition{}, err
	}
	return plan.ServerPosition{InRecovery: f.InRecovery, SystemID: f.SystemIdentifier, Timeline: f.Timeline,
		Receiver: f.ReceiverStatus, ReplayPaused: f.ReplayPaused, Current: f.CurrentLSN, Replayed: f.ReplayLSN,
		Flushed: f.FlushLSN}, nil
}

// measureSelf reads this unit's own server through its socket.
func measureSelf(ctx context.Context, cfg Config) (*postgres.Facts, error) {
	version, _, err := installedVersion(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c, err := postgres.Lookup(version, clusterName)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL is not set up on this unit: %w", err)
	}
	db, err := postgres.Connect(ctx, c, "postgres")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	return db.Facts(ctx)
}

// caughtUp waits up to the decided timeout for the target to replay the primary's current
// position, reading both servers and judging each reading of the target with
// plan.JudgeCatchUp.
func caughtUp(ctx context.Context, o plan.Observed, m *means, d plan.SwitchoverDecision) (primaryLSN, replayed wal.LSN, err error) {
	pp, err := position(ctx, o, m, d.Primary)
	if err != nil {
		return 0, 0, err
	}
	if pp.InRecovery {
		return 0, 0, fmt.Errorf("%s, the primary, is in recovery", d.Primary)
	}
	primaryLSN = pp.Current
	deadline := time.Now().Add(d.Timeout)
	var logged time.Time
	for {
		tp, err := position(ctx, o, m, d.Target)
		if err != nil {
			return primaryLSN, 0, err
		}
		j := plan.JudgeCatchUp(d.Target, pp, primaryLSN, tp, time.Now().After(deadline), d.Timeout)
		switch {
		case j.Refused != "":
			return primaryLSN, tp.Replayed, errors.New(j.Refused)
		case j.Done:
			goops.LogInfof("switchover: %s has replayed %s, the primary's position %s", d.Target, tp.Replayed, primaryLSN)
			return primaryLSN, tp.Replayed, nil
		}
		if time.Since(logged) > 5*time.Second {
			_ = goops.ActionLogf("waiting for %s to replay %s (replayed %s, received %s)", d.Target, primaryLSN, tp.Replayed, tp.Flushed)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return primaryLSN, tp.Replayed, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
