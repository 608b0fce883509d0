package charm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
)

// hookRun carries what the stages that are not yet part of plan.Decide found and did
// during one hook (the client relations, archiving, the server's configuration).
type hookRun struct {
	ctx      context.Context
	o        *observation
	j        *jujuFacts
	app      plan.AppState
	local    *localFacts
	password string           // the replication role's, from the application's secret
	ca       *pki.CA          // the application's CA, from the same secret (tls.go)
	why      plan.StatusFacts // what this hook found that the status reports (plan.UnitStatus)
	admits   []string         // peers whose addresses the pg_hba in force admits
	primary  bool             // this unit serves as the primary (plan.Desired.IsPrimary), once converged
	archive  plan.ArchivePlan // decided before anything is configured (archive_command, restore_command)
}

// decide decides again from the observation, brought in line with what this hook did.
func (r *hookRun) decide() plan.Desired {
	r.o.local = r.local
	r.o.syncLocal()
	return plan.Decide(r.o.Observed)
}

// run applies a decision past the secret: the leader's choices, the server's steps and
// configuration, the client relations and archiving, and the unit's report.
func (r *hookRun) run(d plan.Desired) error {
	j := r.j
	if j.Leader {
		if err := r.leaderWrites(d); err != nil {
			return err
		}
	}
	if r.archive = d.Archive; r.archive.Enabled {
		if err := prepareArchive(j.Config); err != nil {
			return err
		}
	}
	settled, err := r.converge()
	if err != nil {
		return err
	}
	r.o.local = r.local
	r.o.observeArchive(r.ctx)
	if err := r.o.observeOldData(r.ctx); err != nil {
		return err
	}
	isPrimary := r.decide().IsPrimary
	if err := r.observeClientServer(isPrimary); err != nil {
		return err
	}
	if err := r.observeDatabaseServer(isPrimary); err != nil {
		return err
	}
	d = r.decide()
	if j.Leader {
		// A step may have changed what the leader records (the application's database
		// once its primary serves, the restart lock); writing the same again is a no-op.
		if err := r.leaderWrites(d); err != nil {
			return err
		}
	}
	r.primary = d.IsPrimary
	r.why.Sync = d.Why.Sync
	if settled {
		if err := r.settled(); err != nil {
			return err
		}
	}
	r.why.Refused = d.Why.Refused
	if err := r.clientRelations(d.Clients); err != nil {
		return err
	}
	if err := r.databaseRelations(d.Databases); err != nil {
		return err
	}
	r.why.Archive, r.why.ArchiveHealth = d.Why.Archive, d.Why.ArchiveHealth
	if err := r.archiving(d.Archive); err != nil {
		return err
	}
	r.why.OldData = d.Why.OldData
	if err := r.oldData(d.OldData); err != nil {
		return err
	}
	if err := r.ensureAgent(); err != nil {
		return err
	}
	if d.Announce {
		if err := goops.OpenPort(pgPort, "tcp"); err != nil {
			return err
		}
		if err := goops.SetAppVersion(r.local.FullVersion); err != nil {
			return err
		}
	}
	return r.publish()
}

// leaderWrites writes the leader's choices to the application bag, keeping what the
// other stages keep there (client secrets), and says what changed.
func (r *hookRun) leaderWrites(d plan.Desired) error {
	if was := r.j.AppBag[plan.KeyPrimary]; d.App.Primary != was && d.App.Primary != "" {
		goops.LogInfof("primary: %s (was %q)", d.App.Primary, was)
	}
	logFailover(plan.ParseAppState(r.j.AppBag), d.App)
	r.app.Primary, r.app.Switchover, r.app.RestartHolder = d.App.Primary, d.App.Switchover, d.App.RestartHolder
	r.app.SystemID, r.app.CA, r.app.SecretID = d.App.SystemID, d.App.CA, d.App.SecretID
	r.app.Failed, r.app.Failover = d.App.Failed, d.App.Failover
	if d.Why.Choosing != "" {
		r.why.Choosing = d.Why.Choosing
	}
	return r.writeApp()
}

// newPassword returns 40 random characters from a 62-letter alphabet (238 bits).
func newPassword() (string, error) {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 40)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		if err != nil {
			return "", err
		}
		b[i] = letters[n.Int64()]
	}
	return string(b), nil
}

func (r *hookRun) writeApp() error {
	if r.j.PeerID == "" {
		return nil
	}
	want := r.app.Data()
	if equalBags(r.j.AppBag, want) {
		return nil
	}
	if err := relationSet(r.j.PeerID, true, want); err != nil {
		return fmt.Errorf("write peer application data: %w", err)
	}
	r.j.AppBag = want
	r.o.AppBag = plan.ParseAppState(want)
	return nil
}

// equalBags compares relation data, a missing key being the same as an empty one.
func equalBags(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	for k, v := range have {
		if _, ok := want[k]; !ok && v != "" {
			return false
		}
	}
	return true
}

// publish writes this unit's report to its peers when it changed.
func (r *hookRun) publish() error {
	if r.j.PeerID == "" || r.local == nil {
		return nil
	}
	rep := r.local.report(r.j.Address, r.j.Self[plan.KeyFollowing], r.j.Self[plan.KeyRestore])
	rep.RestartRequest = r.local.needsRestart
	rep.Clients = r.j.Clients.Report
	rep.Admits = strings.Join(r.admits, " ")
	want := rep.Data()
	if equalBags(r.j.Self, want) {
		return nil
	}
	if err := relationSet(r.j.PeerID, false, want); err != nil {
		return fmt.Errorf("publish to peers: %w", err)
	}
	r.j.Self = maps.Clone(want)
	return nil
}

var errNoUpstream = errors.New("the primary has not published its address")
