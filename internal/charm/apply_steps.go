package charm

import (
	"errors"
	"fmt"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/roles"
	"github.com/pgcharm/postgresql/internal/wal"
)

// The local steps plan.DecideLocal chooses (plan.Step), each taken by takeStep from the
// state it starts in; apply's loop re-observes and decides again after each.

func (r *applying) upstream(t plan.Target) (postgres.Upstream, error) {
	if t.Address == "" {
		return postgres.Upstream{}, errNoUpstream
	}
	return r.verifiedUpstream(postgres.Upstream{Host: t.Address, Port: pgPort, User: replicationUser, Password: r.password,
		AppName: r.Unit})
}

// takeStep takes one local step towards the target primary.
func (r *applying) takeStep(step plan.Step, t plan.Target) error {
	ctx, l := r.ctx, r.local
	if l.HasData && l.Cluster == nil && step != plan.StepClone {
		if err := r.adopt(); err != nil {
			return err
		}
	}
	switch step {
	case plan.StepCreate:
		if l.Cluster != nil {
			// Configuration without a database (its volume went away): start afresh.
			if err := postgres.Forget(ctx, l.Cluster); err != nil {
				return err
			}
		}
		c, err := postgres.Create(ctx, l.Version, clusterName, postgres.CreateOptions{
			DataDir: l.DataDir, Port: pgPort, Locale: r.config.Locale, Encoding: r.config.Encoding})
		if err != nil {
			return err
		}
		l.Cluster = c
		if err := recordDataDir(l.DataDir); err != nil {
			return err
		}
		if err := r.configure(); err != nil {
			return err
		}
		return postgres.Start(ctx, c)
	case plan.StepStart:
		return postgres.Start(ctx, l.Cluster)
	case plan.StepPromote:
		if err := r.awaitUpstreamStopped(); err != nil {
			return err
		}
		if err := r.awaitFinalWAL(); err != nil {
			return err
		}
		return postgres.Promote(ctx, l.Cluster)
	case plan.StepStop:
		return postgres.Stop(ctx, l.Cluster, postgres.StopFast)
	case plan.StepClone:
		up, err := r.upstream(t)
		if err != nil {
			return err
		}
		if l.Cluster != nil {
			if err := postgres.Forget(ctx, l.Cluster); err != nil {
				return err
			}
			l.Cluster = nil
		}
		// A copy a killed clone left is moved aside, never cloned over or deleted.
		if _, err := postgres.Clone(ctx, l.Version, l.DataDir, up, postgres.CloneOptions{MoveAside: l.Partial}); err != nil {
			return err
		}
		if err := r.adopt(); err != nil {
			return err
		}
		r.Self[plan.KeyRestore] = t.Restore
		return r.follow(t, up)
	case plan.StepFollow:
		up, err := r.upstream(t)
		if err != nil {
			return err
		}
		return r.follow(t, up)
	case plan.StepRewind:
		up, err := r.upstream(t)
		if err != nil {
			return err
		}
		if err := r.answers(t); err != nil {
			return err
		}
		if err := postgres.Stop(ctx, l.Cluster, postgres.StopFast); err != nil {
			return err
		}
		if err := postgres.Rewind(ctx, l.Cluster, up, false, nil); err != nil {
			goops.LogWarningf("rewind from %s failed, cloning instead: %v", t.Name, err)
			if _, err := postgres.Clone(ctx, l.Version, l.DataDir, up, postgres.CloneOptions{MoveAside: true}); err != nil {
				return err
			}
		}
		return r.follow(t, up)
	}
	return fmt.Errorf("unknown step %q", step)
}

func (r *applying) adopt() error {
	c, err := postgres.Adopt(r.ctx, r.local.Version, clusterName, postgres.AdoptOptions{DataDir: r.local.DataDir, Port: pgPort})
	if err != nil {
		return err
	}
	if err := recordDataDir(r.local.DataDir); err != nil {
		return err
	}
	r.local.Cluster = c
	return r.configure()
}

// follow points the standby settings at the primary and (re)starts or reloads.
func (r *applying) follow(t plan.Target, up postgres.Upstream) error {
	c := r.local.Cluster
	if _, err := postgres.WriteStandbyConfig(c, postgres.StandbyConfig{Upstream: up, Slot: plan.SlotName(r.Unit),
		RestoreCommand: r.restoreCommand()}); err != nil {
		return err
	}
	r.Self[plan.KeyFollowing] = t.Name
	running, err := postgres.IsRunning(r.ctx, c)
	if err != nil {
		return err
	}
	if running {
		return postgres.Reload(r.ctx, c)
	}
	return postgres.Start(r.ctx, c)
}

// settled runs on a unit that is where it should be: the primary keeps the replication
// role and a slot per standby.
func (r *applying) settled(d plan.Desired) error {
	ctx := r.ctx
	if d.Restart {
		_ = goops.SetUnitStatus(goops.StatusMaintenance, "Restarting to apply new settings")
		if err := postgres.Restart(ctx, r.local.Cluster); err != nil {
			return err
		}
		r.local.needsRestart = false
	}
	if !d.IsPrimary {
		return nil
	}
	db, err := postgres.Connect(ctx, r.local.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: replicationUser, Login: true, Replication: true, Password: r.password}); err != nil {
		return err
	}
	if err := db.GrantRewind(ctx, replicationUser); err != nil {
		return err
	}
	if _, err := db.GrantRole(ctx, "pg_monitor", replicationUser); err != nil {
		return err
	}
	for _, s := range d.Slots.Keep {
		if _, err := db.EnsurePhysicalSlot(ctx, s); err != nil {
			return err
		}
	}
	for _, s := range d.Slots.Drop {
		if err := db.DropSlot(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// answers checks that the primary to rewind from takes a connection before this unit
// stops its server for the rewind: a primary whose machine died still says it is primary
// in its last report until the leader fails it over, and a standby that stopped and then
// found no source would fall back to a clone, moving its data aside, with nothing to
// clone from.
func (r *applying) answers(t plan.Target) error {
	conn, err := connectPeer(r.ctx, t.Address, r.password, r.ca)
	if err != nil {
		return &upstreamGone{name: t.Name, err: err}
	}
	return conn.Close(r.ctx)
}

// upstreamGone is why a standby does not rewind yet.
type upstreamGone struct {
	name string
	err  error
}

func (e *upstreamGone) Error() string {
	return fmt.Sprintf("Waiting for %s to answer before rewinding from it: %v", e.name, e.err)
}

// upstreamAlive is why a standby chosen as primary does not promote yet.
type upstreamAlive struct{ host string }

func (e *upstreamAlive) Error() string {
	return fmt.Sprintf("Not promoting yet: the old primary (%s) still streams WAL to this unit", e.host)
}

// promoteWait is how long a standby chosen as primary waits for its old primary to stop.
var promoteWait = 60 * time.Second

// awaitUpstreamStopped waits until the standby's WAL receiver no longer streams. A primary
// that is leaving stops in its own pgdata-storage-detaching (on Juju the others learn that
// it departs at once, and its hooks run at the same time as theirs): promoting before its
// fast shutdown has sent the last WAL would fork the timeline under rows it acknowledged.
func (r *applying) awaitUpstreamStopped() error {
	deadline := time.Now().Add(promoteWait)
	for {
		streaming, host, err := postgres.Streaming(r.ctx, r.local.Cluster)
		if err != nil {
			return err
		}
		if !streaming {
			return nil
		}
		if time.Now().After(deadline) {
			return &upstreamAlive{host: host}
		}
		goops.LogInfof("waiting for the old primary (%s) to stop streaming before promoting", host)
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(time.Second):
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
