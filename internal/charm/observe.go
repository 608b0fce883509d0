package charm

import (
	"context"
	"fmt"
	"os"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// observation is one hook's observation: the facts plan.Decide reads, and beside them
// what apply acts through (the relation data as Juju gave it, the cluster, the secret's
// content). observe fills it and writes nothing; apply keeps it in line with what it did.
type observation struct {
	plan.Observed
	j        *jujuFacts
	local    *localFacts
	password string  // the replication role's, from the application's secret
	ca       *pki.CA // the application's CA, from the same secret (tls.go)
	secret   map[string]string
	// archiveRecord is a new answer of the store to keep in the unit's state (archiving.go).
	archiveRecord string
	// oldDataSizes is a new record of the kept copies' sizes (olddata.go).
	oldDataSizes string
}

// observe gathers everything the hook's decision needs: Juju's facts, the local server,
// the application's secret, and, only when the leader needs them (plan.MeasureWanted), its
// peers' positions read on their servers. It stops gathering where the decision will not
// look further: a unit tearing down looks at nothing else, a bad option at no server.
func observe(ctx context.Context, hook string) (*observation, error) {
	j, err := observeJuju(hook)
	if err != nil {
		return nil, err
	}
	admins, _ := ParseAddresses(j.Config.AdminAddresses) // Config.Problems judges them
	o := &observation{j: j, Observed: plan.Observed{Unit: j.Unit, App: j.App, Hook: hook, Leader: j.Leader,
		Address: j.Address, Port: pgPort, TLSRequired: j.Config.TLSRequired, PrivateAddress: j.TLS.Private, PublicAddress: j.TLS.Public,
		HBA:       plan.HBAOptions{AdminAddresses: admins, ExtraPgAuth: j.Config.ExtraPgAuth},
		Clients:   plan.ClientsFacts{Clients: j.Clients.Clients, Hosts: j.Clients.Hosts, Self: j.Clients.Self},
		Databases: plan.DatabasesFacts{Clients: j.Database.Clients, Hosts: j.Database.Hosts, Own: j.Database.Own},
		Peered:    j.PeerID != "", Peers: j.Peers, Self: j.Self, AppBag: plan.ParseAppState(j.AppBag),
		Expected: j.Expected, Dying: j.Dying, DyingUnits: j.DyingUnits, Departing: j.Departing,
		Storage: j.Storage, StorageID: j.StorageID, HadStorage: j.HadStorage, Measured: map[string]plan.Unit{}}}
	if o.Self == nil {
		o.Self = map[string]string{}
		j.Self = o.Self
	}
	o.Applied = o.Self[plan.KeyApplied]
	if stop, _ := plan.Teardown(plan.TeardownFacts{Unit: j.Unit, Hook: hook, Dying: j.Dying, Storage: j.Storage,
		HadStorage: j.HadStorage, Departing: j.Departing}); stop {
		return o, nil
	}
	if ps := j.Config.Problems(); len(ps) > 0 {
		o.ConfigProblem = ps[0].Error()
		return o, nil
	}
	v := &o.Version
	if v.Major, v.Fixed, err = installedVersion(ctx, j.Config); err != nil {
		return nil, err
	}
	v.Option = j.Config.Version
	cfg := j.Config
	o.Archive = plan.ArchiveFacts{URI: cfg.WalEStorageURI, Schedule: cfg.WalEBackupSchedule, Retain: cfg.WalEBackupRetention,
		RetainDays: cfg.WalEBackupRetentionDays, Binary: charmToolsBin, Config: archiveConfigPath}
	if cfg.WalEStorageURI != "" {
		o.Archive.Problem = archiveProblem(cfg, cfg.WalEStorageURI, "wal_e_storage_uri")
	}
	o.Quorum = plan.SyncOptions{Standbys: j.Config.SynchronousStandbys, Strict: j.Config.SynchronousStrict}
	o.Server = plan.ServerFacts{MaxConnections: cfg.MaxConnections, ExtraPgConf: cfg.ExtraPgConf,
		ArchiveCommand: archive.ArchiveCommand(charmToolsBin, archiveConfigPath, cfg.WalEStorageURI)}
	if v.Installed, err = postgres.Installed(ctx, v.Major); err != nil {
		return nil, err
	}
	if j.Storage != "" {
		if fi, err := os.Stat(j.Storage); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			o.StorageClosed = true
		}
	}
	if err := o.observeLocal(ctx); err != nil {
		return nil, err
	}
	if err := o.observeSecret(); err != nil {
		return nil, err
	}
	o.ConfigHash = j.Config.Hash(o.password)
	if err := o.observeClientPasswords(); err != nil {
		return nil, err
	}
	if err := o.observeDatabaseSecrets(); err != nil {
		return nil, err
	}
	o.measure(ctx)
	o.observeAgent()
	return o, nil
}

// observeLocal (again) reads the local server's facts, as observe does and apply after
// each step.
func (o *observation) observeLocal(ctx context.Context) error {
	l, err := observeLocal(ctx, o.Version.Major, o.Storage)
	if err != nil {
		return err
	}
	o.local = l
	o.ConfFile = l.ConfProblem
	o.StaleRestore = l.staleRestore
	if v, _ := goops.GetState(stateDataDir); v == "" {
		o.DataDirUnrecorded = true
	}
	o.syncLocal()
	o.observeClaims(ctx)
	return nil
}

// syncLocal brings the decision's view of the local server in line with the facts and
// with this unit's own bag (which primary it follows, which restore it descends from).
func (o *observation) syncLocal() {
	o.Local = o.local.planLocal(o.Unit, o.Self[plan.KeyFollowing], o.Self[plan.KeyRestore])
	o.Configured = o.local.Cluster != nil
	o.Server.CertFile, o.Server.KeyFile = "", ""
	if c := o.local.Cluster; c != nil {
		o.Server.CertFile, o.Server.KeyFile = postgres.ServerCertFiles(c)
	}
	o.NeedsRestart = o.local.needsRestart
	o.Streaming, o.Slots = o.local.Streaming, o.local.Slots
	o.Archive.DataDir = o.local.DataDir
}

// observeSecret reads the replication password and the CA from the application's secret.
func (o *observation) observeSecret() error {
	id := o.AppBag.SecretID
	if id == "" {
		return nil
	}
	content, err := readOwnSecret(id)
	if err != nil {
		return fmt.Errorf("read the application secret: %w", err)
	}
	o.secret, o.password = content, content["replication"]
	certPEM, keyPEM := content[pki.SecretCACert], content[pki.SecretCAKey]
	if certPEM != "" || keyPEM != "" {
		if o.ca, err = pki.ParseCA([]byte(certPEM), []byte(keyPEM)); err != nil {
			return fmt.Errorf("the application secret's CA: %w", err)
		}
	}
	o.syncSecret()
	return nil
}

func (o *observation) syncSecret() {
	o.Secret = plan.SecretFacts{Password: o.password != ""}
	o.Databases.CACert = ""
	if o.ca != nil {
		o.Secret.CA = o.ca.Fingerprint()
		o.Databases.CACert = string(o.ca.CertPEM)
	}
}

// measure reads, on the leader and only when it must choose a successor to a lost
// primary, each candidate's role, timeline and WAL position from its own server.
func (o *observation) measure(ctx context.Context) {
	if o.password == "" || o.ca == nil {
		return
	}
	for _, name := range plan.MeasureWanted(o.Observed) {
		rep, _ := plan.ParseUnitReport(name, o.Peers[name])
		m, err := measure(ctx, rep.Address, o.password, o.ca)
		if err != nil {
			goops.LogWarningf("failover: measuring %s: %v", name, err)
			continue
		}
		o.Measured[name] = m
	}
}
