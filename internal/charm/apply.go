package charm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/safefs"
)

const (
	replicationUser = "juju_replication"
	pgPort          = 5432
	secretLabel     = "postgresql-charm"
)

// reconcile is the one entry point every hook runs: observe everything the decision needs,
// decide without side effects (plan.Decide), then apply the decision, and say where the
// unit stands.
func reconcile(ctx context.Context, hook string) error {
	o, m, err := observe(ctx, hook)
	if err != nil {
		return err
	}
	s, err := apply(ctx, &o, m, plan.Decide(o))
	if err != nil {
		return err
	}
	return goops.SetUnitStatus(goops.StatusName(s.Name), s.Message)
}

// apply brings about what was decided, keeping the observation in line with what it did
// and deciding again where an action changed the facts (packages installed, the secret
// made, a step taken). It returns the unit's status.
func apply(ctx context.Context, o *plan.Observed, m *means, d plan.Desired) (plan.Status, error) {
	if d.Teardown {
		if o.Dying {
			// A unit going away has nothing left to watch or fence.
			if err := removeAgent(ctx, o.Unit); err != nil {
				return d.Status, err
			}
		}
		if err := stopServer(ctx, d.Why.Teardown.Message); err != nil {
			return d.Status, err
		}
		if d.TeardownBag != nil {
			if err := relationSet(o.PeerRelation, false, d.TeardownBag); err != nil {
				return d.Status, fmt.Errorf("publish the teardown to peers: %w", err)
			}
		}
		return d.Status, nil
	}
	installing := d.Setup.Install != ""
	if err := setup(ctx, o, m, d.Setup); err != nil {
		return d.Status, err
	}
	if installing {
		// The server's own version and the cluster come with the packages.
		if err := observeServer(ctx, o, m); err != nil {
			return d.Status, err
		}
		d = plan.Decide(*o)
		if err := setup(ctx, o, m, d.Setup); err != nil {
			return d.Status, err
		}
	}
	if d.Halt {
		return d.Status, nil
	}
	if d.Secret.Create || d.Secret.AddCA {
		if err := appSecret(o, m, d.Secret); err != nil {
			return d.Status, err
		}
		d = plan.Decide(*o)
	}
	r := &applying{ctx: ctx, Observed: o, means: m}
	if d.Hold {
		return d.Status, r.publish()
	}
	final, err := r.run(d)
	if err != nil {
		return d.Status, err
	}
	return r.status(final), nil
}

// applying is one hook's apply stage: the observation and the means to act, kept in line
// with what apply does (plan.Decide decides again from it after every action), and what
// only acting finds out (the server refusing a setting, a step that must wait, the pg_hba
// rules in force, what this unit tells its peers it provisioned).
type applying struct {
	ctx context.Context
	*plan.Observed
	*means
	found  found
	admits []string // peers whose addresses the pg_hba in force admits
	// report is what this unit tells its peers of its client relations: what it
	// provisioned (primary only) and where each reaches it (plan.HostToken).
	report string
}

// found is what only acting finds out; the status reports it beside the decision's
// findings (status).
type found struct {
	serverConfig string       // the server refused extra_pg_conf or extra_pg_auth
	wait         *plan.Status // a step that must wait (the old primary still streams, replay is behind)
	refused      []string     // requests the server refused while they were provisioned
	settled      bool         // the steps brought the unit where the decision wants it
}

// status is the unit's status: the final decision's findings with what acting found out,
// in plan.UnitStatus's precedence.
func (r *applying) status(d plan.Desired) plan.Status {
	why := d.Why
	if r.found.serverConfig != "" {
		why.ServerConfig = r.found.serverConfig
	}
	if r.found.wait != nil {
		why.Local = *r.found.wait
	}
	why.Refused = append(slices.Clone(why.Refused), r.found.refused...)
	why.Restart = why.Restart && r.found.settled
	return plan.UnitStatus(why)
}

// decide decides again from the observation, brought in line with what this hook did.
func (r *applying) decide() plan.Desired {
	syncServer(r.Observed, r.local)
	return plan.Decide(*r.Observed)
}

// run applies a decision past the secret: the leader's choices, the server's steps and
// configuration, the client relations and archiving, and the unit's report.
func (r *applying) run(d plan.Desired) (plan.Desired, error) {
	if r.Leader {
		if err := r.leaderWrites(d); err != nil {
			return d, err
		}
	}
	if d.Archive.Enabled {
		if err := prepareArchive(r.config); err != nil {
			return d, err
		}
	}
	settled, err := r.converge()
	if err != nil {
		return d, err
	}
	observeArchive(r.ctx, r.Observed, r.means)
	if err := observeOldData(r.ctx, r.Observed, r.means); err != nil {
		return d, err
	}
	isPrimary := r.decide().IsPrimary
	if err := r.observeClientServer(isPrimary); err != nil {
		return d, err
	}
	if err := r.observeDatabaseServer(isPrimary); err != nil {
		return d, err
	}
	d = r.decide()
	if r.Leader {
		// A step may have changed what the leader records (the application's database
		// once its primary serves, the restart lock); writing the same again is a no-op.
		if err := r.leaderWrites(d); err != nil {
			return d, err
		}
	}
	r.found.settled = settled
	if settled {
		if err := r.settled(d); err != nil {
			return d, err
		}
	}
	if err := r.clientRelations(d.Clients); err != nil {
		return d, err
	}
	if err := r.databaseRelations(d.Databases); err != nil {
		return d, err
	}
	if err := r.archiving(d.Archive); err != nil {
		return d, err
	}
	if err := r.oldData(d.OldData); err != nil {
		return d, err
	}
	if err := r.ensureAgent(); err != nil {
		return d, err
	}
	if d.Announce {
		if err := goops.OpenPort(pgPort, "tcp"); err != nil {
			return d, err
		}
		if err := goops.SetAppVersion(r.local.FullVersion); err != nil {
			return d, err
		}
	}
	return d, r.publish()
}

// leaderWrites writes the leader's choices to the application bag, keeping what the
// other stages keep there (client secrets), and says what changed.
func (r *applying) leaderWrites(d plan.Desired) error {
	if was := r.appBag.Primary; d.App.Primary != was && d.App.Primary != "" {
		goops.LogInfof("primary: %s (was %q)", d.App.Primary, was)
	}
	logFailover(r.appBag, d.App)
	return r.writeApp(d.App)
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

// writeApp writes the application bag (leader) when it differs from what it holds.
func (r *applying) writeApp(app plan.AppState) error {
	if r.PeerRelation == "" {
		return nil
	}
	want := app.Data()
	if equalBags(r.appBag.Data(), want) {
		return nil
	}
	if err := relationSet(r.PeerRelation, true, want); err != nil {
		return fmt.Errorf("write peer application data: %w", err)
	}
	r.appBag, r.AppBag = app, app
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
func (r *applying) publish() error {
	if r.PeerRelation == "" || r.local == nil {
		return nil
	}
	rep := r.local.report(r.Address, r.Self[plan.KeyFollowing], r.Self[plan.KeyRestore])
	rep.RestartRequest = r.local.needsRestart
	rep.Applied = r.Applied
	rep.Clients = r.report
	rep.Admits = strings.Join(r.admits, " ")
	want := rep.Data()
	if equalBags(r.Self, want) {
		return nil
	}
	if err := relationSet(r.PeerRelation, false, want); err != nil {
		return fmt.Errorf("publish to peers: %w", err)
	}
	r.Self = maps.Clone(want)
	return nil
}

var errNoUpstream = errors.New("the primary has not published its address")

// maxSteps bounds how many steps one hook takes: a unit goes from nothing to a running
// primary (create, start) or standby (clone, follow) in one hook, yet a step that does
// not change what is observed cannot loop.
const maxSteps = 6

// converge applies the unit's next steps until it is where the decision wants it, or
// must wait for another unit. It says whether the unit settled (nothing left to do).
func (r *applying) converge() (bool, error) {
	ctx := r.ctx
	var last plan.Step = "none"
	for i := 0; i < maxSteps; i++ {
		d := r.decide()
		if d.Teardown || d.Halt || d.Hold {
			// What this hook did changed the facts it started from (postgresql.conf
			// names another data directory now, say): it goes no further.
			return false, nil
		}
		target := d.Target
		if err := r.configure(); err != nil {
			var ce *configError
			if errors.As(err, &ce) {
				r.found.serverConfig = ce.Error()
				return false, nil
			}
			return false, err
		}
		switch d.Step {
		case plan.StepNone:
			return true, nil
		case plan.StepWait, plan.StepBlock:
			return false, nil
		}
		if d.Step == last && d.Step != plan.StepStart {
			return false, fmt.Errorf("step %s did not take effect", d.Step)
		}
		last = d.Step
		// The step's own maintenance message (DecideLocal words every step so) while it
		// runs; reconcile replaces it with the hook's status (plan.UnitStatus).
		_ = goops.SetUnitStatus(goops.StatusName(d.Why.Local.Name), d.Why.Local.Message)
		if err := r.takeStep(d.Step, target); err != nil {
			var alive *upstreamAlive
			var short *notCaughtUp
			var gone *upstreamGone
			if errors.As(err, &alive) || errors.As(err, &short) || errors.As(err, &gone) {
				r.found.wait = &plan.Status{Name: plan.StatusWaiting, Message: err.Error()}
				return false, nil
			}
			return false, fmt.Errorf("%s: %w", d.Step, err)
		}
		if err := observeServer(ctx, r.Observed, r.means); err != nil {
			return false, err
		}
	}
	return false, nil
}

// setup prepares the unit as decided: packages, the unit state recording what it has,
// the volume's mode, a stale restore record. Each done part is noted in the observation,
// so that deciding again asks for nothing twice.
func setup(ctx context.Context, o *plan.Observed, m *means, s plan.Setup) error {
	if s.Install != "" {
		if err := ensurePackages(ctx, s.Install); err != nil {
			return err
		}
		o.Version.Installed = true
	}
	if s.RecordVersion != "" {
		if err := goops.SetState("version", s.RecordVersion); err != nil {
			return err
		}
		o.Version.Fixed = true
	}
	if s.RecordStorage != "" {
		if err := goops.SetState(stateStorage, s.RecordStorage); err != nil {
			return err
		}
		o.HadStorage = s.RecordStorage
	}
	if s.OpenStorage {
		// The server runs as postgres and must reach its data directory through the
		// volume's root.
		fi, err := os.Stat(o.Storage)
		if err != nil {
			return err
		}
		if err := os.Chmod(o.Storage, fi.Mode().Perm()|0o755); err != nil {
			return fmt.Errorf("open %s to the postgres user: %w", o.Storage, err)
		}
		o.StorageClosed = false
	}
	if s.RemoveStaleRestore {
		// A restore killed before it changed anything.
		if err := removeRestoreMarker(); err != nil {
			return err
		}
		o.StaleRestore = false
	}
	if s.RecordDataDir {
		// Clusters made before the charm recorded their data directory.
		if err := recordDataDir(m.local.DataDir); err != nil {
			return err
		}
		o.DataDirUnrecorded = false
	}
	return nil
}

// stateStorage is the unit state key holding the pgdata storage the unit has had.
const stateStorage = "pgdata-storage"

// stopServer stops a running PostgreSQL with a fast shutdown, which still sends the last
// WAL to connected standbys, and touches nothing else: no packages, no configuration.
func stopServer(ctx context.Context, why string) error {
	version, err := goops.GetState("version")
	if err != nil || version == "" {
		return nil // never installed: nothing runs
	}
	c, err := postgres.Lookup(version, clusterName)
	if errors.Is(err, postgres.ErrNoCluster) {
		return nil
	}
	if err != nil {
		return err
	}
	// Root takes the data directory from what the charm recorded, never from
	// postgresql.conf (postgres's file), as observeLocal does.
	if c.DataDir = unitDataDir(version, "", true); safefs.CheckPath(c.DataDir) != nil {
		return fmt.Errorf("data directory %q: refused", c.DataDir)
	}
	if safefs.CheckPath(c.SocketDir) != nil {
		c.SocketDir = "/var/run/postgresql"
	}
	running, err := postgres.IsRunning(ctx, c)
	if err != nil || !running {
		return err
	}
	goops.LogInfof("stopping PostgreSQL (%s)", why)
	return postgres.Stop(ctx, c, postgres.StopFast)
}

func ensurePackages(ctx context.Context, version string) error {
	ok, err := postgres.Installed(ctx, version)
	if err != nil || ok {
		return err
	}
	_ = goops.SetUnitStatus(goops.StatusMaintenance, "Installing PostgreSQL "+version)
	// Debian's package would create and start an empty "main" cluster in the default
	// place; the charm creates its own where the storage is.
	const noMain = "/etc/postgresql-common/createcluster.d/juju-charm.conf"
	if err := os.MkdirAll(filepath.Dir(noMain), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(noMain, []byte("# Written by the PostgreSQL charm.\ncreate_main_cluster = false\n"), 0o644); err != nil {
		return err
	}
	return postgres.Install(ctx, version)
}

// appSecret creates the application's secret (a new replication password and CA), or
// adds a CA to one made before the charm had it, on the leader; the application bag
// names it (written with the leader's other choices).
func appSecret(o *plan.Observed, m *means, a plan.SecretAction) error {
	if a.Create {
		pw, err := newPassword()
		if err != nil {
			return err
		}
		content, ca, err := newAppSecret(o.App, pw)
		if err != nil {
			return err
		}
		id, err := secretAdd(secretLabel, content)
		if err != nil {
			return fmt.Errorf("create the application secret: %w", err)
		}
		o.AppBag.SecretID, m.secret, m.password, m.ca = id, content, pw, ca
		syncSecret(o, m)
		return nil
	}
	ca, err := pki.NewCA(o.App, time.Now())
	if err != nil {
		return err
	}
	next := maps.Clone(m.secret)
	if next == nil {
		next = map[string]string{}
	}
	next[pki.SecretCACert], next[pki.SecretCAKey] = string(ca.CertPEM), string(ca.KeyPEM)
	if err := secretSetContent(o.AppBag.SecretID, next); err != nil {
		return fmt.Errorf("add the CA to the application secret: %w", err)
	}
	goops.LogInfof("created the application's certificate authority (%s)", ca.Fingerprint())
	m.secret, m.ca = next, ca
	syncSecret(o, m)
	return nil
}
