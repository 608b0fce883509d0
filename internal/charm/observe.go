package charm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// means is what apply acts with beside the observation, and what the decision never
// reads: it is not a fact to decide on but a handle or a credential (plan keeps only what
// it decides on: whether the password is there, the CA's fingerprint). observe fills it
// with plan.Observed and apply keeps the two in line with what it does.
type means struct {
	// config is the options as read: apply passes some on as they are (the locale and
	// encoding to a new cluster, the store's credentials to the archive tools).
	config Config
	// local is the local server as apply acts on it: its cluster handle and what the
	// server said, read again after every step; plan.Observed.Local is their projection.
	local *localFacts
	// password, ca and secret are the application secret's content: the replication
	// role's password, the CA with its key (tls.go) and the whole content, which a new CA
	// is added to.
	password string
	ca       *pki.CA
	secret   map[string]string
	// appBag is the application bag as Juju holds it: plan.Observed.AppBag runs ahead of
	// it with a secret made in this hook until the leader writes its choices.
	appBag plan.AppState
	// archiveRecord is a new answer of the store and oldDataSizes a new record of the
	// kept copies' sizes, which observing found and apply keeps in the unit's state
	// (archiving.go, olddata.go).
	archiveRecord string
	oldDataSizes  string
}

// observe gathers everything the hook's decision needs: Juju's facts, the local server,
// the application's secret, and, only when the leader needs them (plan.MeasureWanted), its
// peers' positions read on their servers. It writes nothing, and stops gathering where the
// decision will not look further: a unit tearing down looks at nothing else, a bad option
// at no server. What depends on the server as the steps leave it apply observes after
// them (applying.run).
func observe(ctx context.Context, hook string) (plan.Observed, *means, error) {
	j, err := observeJuju(hook)
	if err != nil {
		return plan.Observed{}, nil, err
	}
	o, cfg := j.Observed, j.Config
	m := &means{config: cfg, appBag: o.AppBag}
	observeOptions(&o, cfg)
	o.Measured = map[string]plan.Unit{}
	if stop, _ := plan.Teardown(plan.TeardownFacts{Unit: o.Unit, Hook: hook, Dying: o.Dying, Storage: o.Storage,
		HadStorage: o.HadStorage, Departing: o.Departing}); stop {
		return o, m, nil
	}
	if ps := cfg.Problems(); len(ps) > 0 {
		o.ConfigProblem = ps[0].Error()
		return o, m, nil
	}
	v := &o.Version
	if v.Major, v.Fixed, err = installedVersion(ctx, cfg); err != nil {
		return o, nil, err
	}
	if v.Installed, err = postgres.Installed(ctx, v.Major); err != nil {
		return o, nil, err
	}
	if o.Storage != "" {
		if fi, err := os.Stat(o.Storage); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			o.StorageClosed = true
		}
	}
	if err := observeServer(ctx, &o, m); err != nil {
		return o, nil, err
	}
	if err := observeSecret(&o, m); err != nil {
		return o, nil, err
	}
	o.ConfigHash = cfg.Hash(m.password)
	if err := observeClientPasswords(&o); err != nil {
		return o, nil, err
	}
	if err := observeDatabaseSecrets(&o); err != nil {
		return o, nil, err
	}
	measurePeers(ctx, &o, m)
	observeAgent(&o, cfg)
	return o, m, nil
}

// observeOptions copies into the observation what the decision reads of the options.
func observeOptions(o *plan.Observed, cfg Config) {
	admins, _ := ParseAddresses(cfg.AdminAddresses) // Config.Problems judges them
	o.Port, o.TLSRequired = pgPort, cfg.TLSRequired
	o.HBA = plan.HBAOptions{AdminAddresses: admins, ExtraPgAuth: cfg.ExtraPgAuth}
	o.Version.Option = cfg.Version
	o.Archive = plan.ArchiveFacts{URI: cfg.WalEStorageURI, Schedule: cfg.WalEBackupSchedule, Retain: cfg.WalEBackupRetention,
		RetainDays: cfg.WalEBackupRetentionDays, Binary: charmToolsBin, Config: archiveConfigPath}
	if cfg.WalEStorageURI != "" {
		o.Archive.Problem = archiveProblem(cfg, cfg.WalEStorageURI, "wal_e_storage_uri")
	}
	o.Quorum = plan.SyncOptions{Standbys: cfg.SynchronousStandbys, Strict: cfg.SynchronousStrict}
	o.Server = plan.ServerFacts{MaxConnections: cfg.MaxConnections, ExtraPgConf: cfg.ExtraPgConf,
		ArchiveCommand: archive.ArchiveCommand(charmToolsBin, archiveConfigPath, cfg.WalEStorageURI)}
}

// observeAction gathers what an action decides on, as observe does for a hook: Juju's
// facts with what the decision reads of the options, and the application secret's content.
// It writes nothing. An action that acts on the local server reads it next
// (observeActionServer), once it knows it may run here.
func observeAction(action string) (plan.Observed, *means, error) {
	j, err := observeJuju(action)
	if err != nil {
		return plan.Observed{}, nil, err
	}
	o, cfg := j.Observed, j.Config
	m := &means{config: cfg, appBag: o.AppBag}
	observeOptions(&o, cfg)
	if err := observeSecret(&o, m); err != nil {
		return o, nil, err
	}
	return o, m, nil
}

// observeActionServer reads the local server for an action, whatever the options hold:
// an action on a blocked unit still acts.
func observeActionServer(ctx context.Context, o *plan.Observed, m *means) error {
	v := &o.Version
	var err error
	if v.Major, v.Fixed, err = installedVersion(ctx, m.config); err != nil {
		return err
	}
	if m.local, err = observeLocal(ctx, v.Major, o.Storage); err != nil {
		return err
	}
	o.ConfFile = m.local.ConfProblem
	syncServer(o, m.local)
	return nil
}

// observeServer (again) reads the local server's facts, as observe does and apply after
// each step.
func observeServer(ctx context.Context, o *plan.Observed, m *means) error {
	l, err := observeLocal(ctx, o.Version.Major, o.Storage)
	if err != nil {
		return err
	}
	m.local = l
	o.ConfFile = l.ConfProblem
	o.StaleRestore = l.staleRestore
	if v, _ := goops.GetState(stateDataDir); v == "" {
		o.DataDirUnrecorded = true
	}
	syncServer(o, m.local)
	observeClaims(ctx, o, m.local)
	return nil
}

// syncServer brings the decision's view of the local server in line with the facts and
// with this unit's own bag (which primary it follows, which restore it descends from).
func syncServer(o *plan.Observed, l *localFacts) {
	o.Local = l.planLocal(o.Unit, o.Self[plan.KeyFollowing], o.Self[plan.KeyRestore])
	o.Configured = l.Cluster != nil
	o.Server.CertFile, o.Server.KeyFile = "", ""
	if c := l.Cluster; c != nil {
		o.Server.CertFile, o.Server.KeyFile = postgres.ServerCertFiles(c)
	}
	o.NeedsRestart = l.needsRestart
	o.Streaming, o.Slots = l.Streaming, l.Slots
	o.Archive.DataDir = l.DataDir
}

// observeSecret reads the replication password and the CA from the application's secret.
func observeSecret(o *plan.Observed, m *means) error {
	id := o.AppBag.SecretID
	if id == "" {
		return nil
	}
	content, err := readOwnSecret(id)
	if err != nil {
		return fmt.Errorf("read the application secret: %w", err)
	}
	m.secret, m.password = content, content["replication"]
	certPEM, keyPEM := content[pki.SecretCACert], content[pki.SecretCAKey]
	if certPEM != "" || keyPEM != "" {
		if m.ca, err = pki.ParseCA([]byte(certPEM), []byte(keyPEM)); err != nil {
			return fmt.Errorf("the application secret's CA: %w", err)
		}
	}
	syncSecret(o, m)
	return nil
}

// syncSecret brings the decision's view of the secret in line with its content.
func syncSecret(o *plan.Observed, m *means) {
	o.Secret = plan.SecretFacts{Password: m.password != ""}
	o.Databases.CACert = ""
	if m.ca != nil {
		o.Secret.CA = m.ca.Fingerprint()
		o.Databases.CACert = string(m.ca.CertPEM)
	}
}

// measurePeers reads, on the leader and only when it must choose a successor to a lost
// primary, each candidate's role, timeline and WAL position from its own server.
func measurePeers(ctx context.Context, o *plan.Observed, m *means) {
	if m.password == "" || m.ca == nil {
		return
	}
	for _, name := range plan.MeasureWanted(*o) {
		rep, _ := plan.ParseUnitReport(name, o.Peers[name])
		u, err := measure(ctx, rep.Address, m.password, m.ca)
		if err != nil {
			goops.LogWarningf("failover: measuring %s: %v", name, err)
			continue
		}
		o.Measured[name] = u
	}
}

// measure reads a peer's role, timeline and WAL position from its server, verified
// against the application's CA.
func measure(ctx context.Context, address, password string, ca *pki.CA) (plan.Unit, error) {
	f, err := measurePeer(ctx, address, password, ca)
	if err != nil {
		return plan.Unit{}, err
	}
	u := plan.Unit{Timeline: uint32(f.Timeline), LSN: max(f.CurrentLSN, f.FlushLSN), Role: plan.RolePrimary}
	if f.InRecovery {
		u.Role = plan.RoleStandby
	}
	return u, nil
}

// measurePeer reads a peer server's facts over a connection verified against the CA.
func measurePeer(ctx context.Context, address, password string, ca *pki.CA) (*postgres.Facts, error) {
	if ca == nil {
		return nil, errors.New("no CA yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := peerConnConfig(address, password, ca.Pool())
	if err != nil {
		return nil, err
	}
	return postgres.Measure(ctx, cfg)
}
