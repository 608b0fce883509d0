package charm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
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
// the new one promotes once it has replayed that WAL, and the old one rewinds to follow.
func switchover(ctx context.Context) error {
	var p struct {
		Master  string `json:"master"`
		Timeout *int   `json:"timeout"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	timeout := switchoverTimeout
	if p.Timeout != nil {
		if *p.Timeout < 0 {
			return fmt.Errorf("timeout must be a number of seconds, 0 or more; got %d", *p.Timeout)
		}
		timeout = time.Duration(*p.Timeout) * time.Second
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	if !j.Leader {
		return errors.New("switchover must be run on the leader unit")
	}
	app := j.AppBag
	if p.Master == app.Primary {
		return goops.SetActionResults(map[string]string{"result": p.Master + " is already master"})
	}
	var hasData bool
	if data, ok := j.Peers[p.Master]; ok {
		rep, _ := plan.ParseUnitReport(p.Master, data)
		hasData = rep.HasData
	} else if p.Master == j.Unit {
		hasData = j.Self[plan.KeyHasData] == "true"
	} else {
		return fmt.Errorf("%s is not a unit of this application", p.Master)
	}
	if !hasData {
		return fmt.Errorf("%s holds no database yet; wait until it is a live secondary", p.Master)
	}
	if app.Primary == "" {
		return errors.New("no primary has been chosen yet")
	}
	m, err := newMeasurer(ctx, j, app)
	if err != nil {
		return err
	}
	primaryLSN, targetLSN, err := m.caughtUp(ctx, app.Primary, p.Master, timeout)
	if err != nil {
		return fmt.Errorf("switchover to %s refused, nothing changed (%s stays primary): %w", p.Master, app.Primary, err)
	}
	app.Primary = p.Master
	if err := relationSet(j.PeerRelation, true, app.Data()); err != nil {
		return err
	}
	// The leader's own write wakes every unit but itself: when it is the old primary it
	// steps down here, as any hook would.
	if err := reconcile(ctx, "switchover"); err != nil {
		return err
	}
	return goops.SetActionResults(map[string]string{
		"result":          "Initiated switchover of master to " + p.Master,
		"old-primary-lsn": primaryLSN.String(),
		"new-primary-lsn": targetLSN.String(),
	})
}

// measurer reads units' servers for the switchover action: peers over TLS as the
// replication role, this unit through its socket.
type measurer struct {
	j        *jujuRead
	password string
	ca       *pki.CA
}

func newMeasurer(ctx context.Context, j *jujuRead, app plan.AppState) (*measurer, error) {
	if app.SecretID == "" {
		return nil, errors.New("the application secret does not exist yet")
	}
	content, err := goops.GetSecretByID(app.SecretID, false, false)
	if err != nil {
		return nil, fmt.Errorf("read the application secret: %w", err)
	}
	m := &measurer{j: j, password: content["replication"]}
	if cert, key := content[pki.SecretCACert], content[pki.SecretCAKey]; cert != "" || key != "" {
		if m.ca, err = pki.ParseCA([]byte(cert), []byte(key)); err != nil {
			return nil, fmt.Errorf("the application secret's CA: %w", err)
		}
	}
	return m, nil
}

func (m *measurer) facts(ctx context.Context, unit string) (*postgres.Facts, error) {
	if unit == m.j.Unit {
		return measureSelf(ctx)
	}
	rep, _ := plan.ParseUnitReport(unit, m.j.Peers[unit])
	if rep.Address == "" {
		return nil, fmt.Errorf("%s has not published its address", unit)
	}
	f, err := measurePeer(ctx, rep.Address, m.password, m.ca)
	if err != nil {
		return nil, fmt.Errorf("measure %s: %w", unit, err)
	}
	return f, nil
}

// measureSelf reads this unit's own server through its socket.
func measureSelf(ctx context.Context) (*postgres.Facts, error) {
	var cfg Config
	if err := goops.GetConfig(&cfg); err != nil {
		return nil, err
	}
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

// caughtUp waits up to timeout for target, a standby streaming from primary, to replay
// primary's current position. A target that is not streaming (even one that has replayed
// everything so far: the primary's final WAL would not reach it) gets the timeout to
// reconnect. It fails at once when the target cannot get there by itself: not a standby,
// another database, or its replay paused.
func (m *measurer) caughtUp(ctx context.Context, primary, target string, timeout time.Duration) (primaryLSN, replayed wal.LSN, err error) {
	pf, err := m.facts(ctx, primary)
	if err != nil {
		return 0, 0, err
	}
	if pf.InRecovery {
		return 0, 0, fmt.Errorf("%s, the primary, is in recovery", primary)
	}
	primaryLSN = pf.CurrentLSN
	deadline := time.Now().Add(timeout)
	var logged time.Time
	for {
		tf, err := m.facts(ctx, target)
		switch {
		case err != nil:
			return primaryLSN, 0, err
		case !tf.InRecovery:
			return primaryLSN, 0, fmt.Errorf("%s is not a standby", target)
		case tf.SystemIdentifier != pf.SystemIdentifier:
			return primaryLSN, 0, fmt.Errorf("%s holds another database (system id %s, the primary's is %s)", target, tf.SystemIdentifier, pf.SystemIdentifier)
		case tf.ReplayPaused:
			return primaryLSN, tf.ReplayLSN, fmt.Errorf("%s's WAL replay is paused (replication-pause) at %s, the primary is at %s; run replication-resume on %s first",
				target, tf.ReplayLSN, primaryLSN, target)
		case tf.ReceiverStatus == "streaming" && tf.Timeline == pf.Timeline && tf.ReplayLSN >= primaryLSN:
			goops.LogInfof("switchover: %s has replayed %s, the primary's position %s", target, tf.ReplayLSN, primaryLSN)
			return primaryLSN, tf.ReplayLSN, nil
		case time.Now().After(deadline) && tf.ReceiverStatus != "streaming":
			return primaryLSN, tf.ReplayLSN, fmt.Errorf("%s is not streaming from the primary (WAL receiver %q after %s), replayed %s of %s: it would promote without the primary's last WAL",
				target, tf.ReceiverStatus, timeout, tf.ReplayLSN, primaryLSN)
		case time.Now().After(deadline):
			return primaryLSN, tf.ReplayLSN, fmt.Errorf("%s replayed %s of the primary's %s in %s (received %s); wait until it catches up or give a longer timeout",
				target, tf.ReplayLSN, primaryLSN, timeout, tf.FlushLSN)
		}
		if time.Since(logged) > 5*time.Second {
			_ = goops.ActionLogf("waiting for %s to replay %s (replayed %s, received %s)", target, primaryLSN, tf.ReplayLSN, tf.FlushLSN)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return primaryLSN, tf.ReplayLSN, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// catchUpWait bounds how long one hook of a chosen primary waits to replay the old
// primary's final WAL; later hooks wait again.
var catchUpWait = 30 * time.Second

// notCaughtUp is why a standby chosen as primary does not promote yet.
type notCaughtUp struct {
	old    string
	final  wal.LSN
	behind *postgres.BehindError
}

func (e *notCaughtUp) Error() string {
	return fmt.Sprintf("Not promoting yet: %s, the old primary, stopped at %s; this unit %s", e.old, e.final, e.behind)
}

// oldPrimaryFinal is the position the primary this standby followed stopped at, as that
// unit published it (a stopped database publishes its position; a running one does not).
func (r *applying) oldPrimaryFinal() (string, wal.LSN, bool) {
	old := r.Self[plan.KeyFollowing]
	data, ok := r.Peers[old]
	if old == "" || old == r.Unit || !ok {
		return "", 0, false
	}
	rep, _ := plan.ParseUnitReport(old, data)
	if rep.Role != plan.RoleNone || !rep.HasData || rep.LSN == 0 {
		return "", 0, false
	}
	return old, rep.LSN, true
}

// awaitFinalWAL waits until this standby has replayed the old primary's final record (its
// shutdown checkpoint starts at the published position, so replay must pass it).
func (r *applying) awaitFinalWAL() error {
	old, final, ok := r.oldPrimaryFinal()
	if !ok {
		return nil
	}
	goops.LogInfof("promotion: replaying %s's WAL up to its final position %s", old, final)
	err := postgres.CatchUp(r.ctx, r.local.Cluster, final+1, catchUpWait)
	var behind *postgres.BehindError
	if errors.As(err, &behind) {
		return &notCaughtUp{old: old, final: final, behind: behind}
	}
	return err
}
