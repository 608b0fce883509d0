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
	"strings"

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

// hookRun carries one hook's observations and what it has decided so far.
type hookRun struct {
	ctx      context.Context
	j        *jujuFacts
	app      AppState
	local    *localFacts
	password string           // the replication role's, from the application's secret
	ca       *pki.CA          // the application's CA, from the same secret (tls.go)
	why      plan.StatusFacts // what this hook found that the status reports (plan.UnitStatus)
	admits   []string         // peers whose addresses the pg_hba in force admits
	primary  bool             // this unit serves as the primary (plan.IsPrimary), once converged
	archive  archiveSetup     // decided once per hook, before anything is configured
	sync     plan.SyncPlan    // the quorum commit configure applied (quorum.go)
}

// reconcile is the one entry point every hook runs: observe everything the decision needs,
// decide without side effects, then act, and say where the unit stands.
func reconcile(ctx context.Context, hook string) error {
	j, err := observeJuju(hook)
	if err != nil {
		return err
	}
	r := &hookRun{ctx: ctx, j: j, app: parseAppState(j.AppBag)}
	if err := r.run(); err != nil {
		return err
	}
	s := plan.UnitStatus(r.why)
	return goops.SetUnitStatus(goops.StatusName(s.Name), s.Message)
}

func (r *hookRun) run() error {
	ctx, j := r.ctx, r.j
	// Teardown comes first and needs nothing else: whatever the configuration holds, a
	// unit going away, or one that lost its volume, must let go of its data.
	if stop, msg := plan.Teardown(plan.TeardownFacts{Unit: j.Unit, Hook: j.Hook, Dying: j.Dying, Storage: j.Storage,
		HadStorage: j.HadStorage, Departing: j.Departing}); stop {
		r.why.Teardown = msg
		if err := r.stopServer(); err != nil {
			return err
		}
		return r.publishTeardown()
	}
	if ps := j.Config.Problems(); len(ps) > 0 {
		r.why.Config = ps[0].Error()
		return nil
	}
	version, fixed, err := installedVersion(ctx, j.Config)
	if err != nil {
		return err
	}
	if fixed && j.Config.Version != "" && j.Config.Version != version {
		r.why.Config = fmt.Sprintf(
			"version: this unit runs PostgreSQL %s and cannot change in place; set version back to %s or empty", version, version)
		return nil
	}
	if err := r.ensurePackages(version); err != nil {
		return err
	}
	if !fixed {
		if err := goops.SetState("version", version); err != nil {
			return err
		}
	}
	if j.Storage != "" {
		if j.StorageID != j.HadStorage {
			// Remembered so that a unit whose volume goes away knows it, and never
			// starts afresh on the root disk.
			if err := goops.SetState(stateStorage, j.StorageID); err != nil {
				return err
			}
		}
		// A volume's root can come with a restrictive mode (the provisioner's umask);
		// the server runs as postgres and must reach its data directory through it.
		if fi, err := os.Stat(j.Storage); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(j.Storage, fi.Mode().Perm()|0o755); err != nil {
				return fmt.Errorf("open %s to the postgres user: %w", j.Storage, err)
			}
		}
	}
	if r.local, err = observeLocal(ctx, version, j.Storage); err != nil {
		return err
	}
	if r.local.ConfProblem != "" {
		r.why.ConfFile = r.local.ConfProblem
		return nil
	}
	if r.local.staleRestore {
		// A restore killed before it changed anything.
		if err := removeRestoreMarker(); err != nil {
			return err
		}
	}
	if v, _ := goops.GetState(stateDataDir); v == "" && r.local.Cluster != nil {
		// Clusters made before the charm recorded their data directory.
		if err := recordDataDir(r.local.DataDir); err != nil {
			return err
		}
	}
	if err := r.secrets(); err != nil {
		return err
	}
	if r.password == "" {
		r.why.NoSecret = true
		return r.publish()
	}
	if r.ca == nil {
		r.why.NoCA = true
		return r.publish()
	}
	if j.Leader {
		if err := r.leaderDuties(); err != nil {
			return err
		}
	}
	r.archive = decideArchive(j.Config)
	if err := prepareArchive(j.Config, r.archive); err != nil {
		return err
	}
	settled, err := r.converge()
	if err != nil {
		return err
	}
	// The one answer to "am I primary" that every later stage uses.
	r.primary = plan.IsPrimary(r.local.planLocal(j.Unit, j.Self[keyFollowing], j.Self[keyRestore]), r.app.Primary)
	if r.primary {
		r.why.Sync = r.sync.Note
	}
	if settled {
		if err := r.settled(); err != nil {
			return err
		}
	}
	if err := r.clientRelations(); err != nil {
		return err
	}
	if err := r.databaseRelations(); err != nil {
		return err
	}
	if err := r.archiving(); err != nil {
		return err
	}
	if err := r.oldData(); err != nil {
		return err
	}
	// The port and version only change with the server itself: a unit that already
	// was running at its last report has set them, unless the charm or its config just changed.
	announced := r.j.Self[keyRole] != "" && j.Hook != "upgrade-charm" && j.Hook != "config-changed"
	if r.local.Cluster != nil && !announced {
		if err := goops.OpenPort(pgPort, "tcp"); err != nil {
			return err
		}
		if err := goops.SetAppVersion(r.local.FullVersion); err != nil {
			return err
		}
	}
	return r.publish()
}

// stateStorage is the unit state key holding the pgdata storage the unit has had.
const stateStorage = "pgdata-storage"

// publishTeardown tells the peers that this unit no longer serves, so that the leader
// never keeps or chooses it as primary: its role goes, and a unit whose storage went away
// says so (a dying one the leader sees in goal-state).
func (r *hookRun) publishTeardown() error {
	if r.j.PeerID == "" {
		return nil
	}
	want := map[string]string{keyRole: ""}
	if r.j.Storage == "" && (r.j.HadStorage != "" || r.j.Hook == plan.StorageName+"-storage-detaching") {
		want[keyDetached] = "true"
	}
	same := true
	for k, v := range want {
		same = same && r.j.Self[k] == v
	}
	if same {
		return nil
	}
	if err := relationSet(r.j.PeerID, false, want); err != nil {
		return fmt.Errorf("publish the teardown to peers: %w", err)
	}
	return nil
}

// stopServer stops a running PostgreSQL with a fast shutdown, which still sends the last
// WAL to connected standbys, and touches nothing else: no packages, no configuration.
func (r *hookRun) stopServer() error {
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
	running, err := postgres.IsRunning(r.ctx, c)
	if err != nil || !running {
		return err
	}
	goops.LogInfof("stopping PostgreSQL (%s)", r.why.Teardown.Message)
	return postgres.Stop(r.ctx, c, postgres.StopFast)
}

func (r *hookRun) ensurePackages(version string) error {
	ok, err := postgres.Installed(r.ctx, version)
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
	return postgres.Install(r.ctx, version)
}

// secrets makes sure the application's secret exists (leader) and reads the
// replication password and the CA from it.
func (r *hookRun) secrets() error {
	id := r.app.SecretID
	if id == "" && r.j.Leader && r.j.PeerID != "" {
		pw, err := newPassword()
		if err != nil {
			return err
		}
		content, ca, err := newAppSecret(r.j.App, pw)
		if err != nil {
			return err
		}
		if id, err = secretAdd(secretLabel, content); err != nil {
			return fmt.Errorf("create the application secret: %w", err)
		}
		r.app.SecretID = id
		r.password, r.ca, r.app.CA = pw, ca, ca.Fingerprint()
		return nil
	}
	if id == "" {
		return nil
	}
	content, err := readOwnSecret(id)
	if err != nil {
		return fmt.Errorf("read the application secret: %w", err)
	}
	r.password = content["replication"]
	return r.readCA(id, content)
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

// leaderDuties chooses the primary and grants restarts, writing the application bag.
func (r *hookRun) leaderDuties() error {
	j := r.j
	g := plan.Group{Leader: j.Unit, Units: map[string]plan.Unit{}, Expected: j.Expected,
		Primary: r.app.Primary, Switchover: r.app.Switchover, SystemID: r.app.SystemID}
	self := r.local.planLocal(j.Unit, j.Self[keyFollowing], j.Self[keyRestore])
	g.Units[j.Unit] = plan.Unit{Name: j.Unit, Reported: true, HasData: self.HasData, SystemID: self.SystemID,
		Timeline: self.Timeline, LSN: self.LSN, Role: r.local.report("", "", "").Role, Measured: true, Dying: j.Dying}
	reports := map[string]UnitReport{}
	for name, data := range j.Peers {
		rep, u := parseUnitReport(name, data)
		u.Dying = j.DyingUnits[name]
		g.Units[name], reports[name] = u, rep
	}
	failover := plan.PrimaryLost(g)
	for name, rep := range reports {
		u := g.Units[name]
		if failover && u.HasData && name != r.app.Primary && u.Eligible() {
			// Relation data may be stale; the decision that can lose data is made
			// on positions read from the servers themselves.
			if m, err := measure(r.ctx, rep.Address, r.password, r.ca); err == nil {
				u.Timeline, u.LSN, u.Measured = m.Timeline, m.LSN, true
				if m.Role != "" {
					u.Role = m.Role
				}
			} else {
				goops.LogWarningf("failover: measuring %s: %v", name, err)
			}
		}
		g.Units[name] = u
	}
	choice := plan.ChoosePrimary(g)
	if choice.Waiting != "" && r.app.Primary != "" {
		goops.LogWarningf("primary %s: %s", r.app.Primary, choice.Waiting)
	}
	if choice.Primary != "" {
		if choice.Primary != r.app.Primary {
			goops.LogInfof("primary: %s (was %q, failover %v)", choice.Primary, r.app.Primary, choice.Failover)
		}
		r.app.Primary = choice.Primary
		if r.app.Switchover == choice.Primary {
			r.app.Switchover = ""
		}
	} else if r.app.Primary == "" {
		r.why.Choosing = choice.Waiting
	}
	requests, present := map[string]bool{}, map[string]bool{j.Unit: true}
	for name, data := range j.Peers {
		rep, _ := parseUnitReport(name, data)
		requests[name], present[name] = rep.RestartRequest, true
	}
	requests[j.Unit] = r.local.needsRestart
	r.app.RestartHolder = plan.GrantRestart(r.app.RestartHolder, requests, present, r.app.Primary)
	r.app.SystemID = plan.RecordSystemID(r.app.SystemID, g.Units[r.app.Primary], r.app.Primary)
	return r.writeApp()
}

func (r *hookRun) writeApp() error {
	if r.j.PeerID == "" {
		return nil
	}
	want := r.app.data()
	if equalBags(r.j.AppBag, want) {
		return nil
	}
	if err := relationSet(r.j.PeerID, true, want); err != nil {
		return fmt.Errorf("write peer application data: %w", err)
	}
	r.j.AppBag = want
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
	rep := r.local.report(r.j.Address, r.j.Self[keyFollowing], r.j.Self[keyRestore])
	rep.RestartRequest = r.local.needsRestart
	rep.Clients = r.j.Clients.Report
	rep.Admits = strings.Join(r.admits, " ")
	want := rep.data()
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
