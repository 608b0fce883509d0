package plan

import (
	"time"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgconf"
)

// Observed is everything one hook found before anything is decided or written: Juju's
// facts, the local server's, what the application's secret holds, and the positions the
// leader measured on its peers' servers. The charm's observe gathers it and writes
// nothing; Decide reads nothing else. Apply updates it as it acts (a step taken, a secret
// created, a bag written) and decides again, so every decision is made from facts.
type Observed struct {
	Unit, App string
	Hook      string
	Leader    bool
	// Address is this unit's ingress address on the peer binding, where peers and clients
	// on the same network reach it; Port is the server's.
	Address string
	Port    int
	// TLSRequired is the tls_required option: clients connect over TLS only.
	TLSRequired bool
	// PrivateAddress and PublicAddress are the unit's (unit-get), "" when Juju has none:
	// the server certificate names them beside the bindings' addresses.
	PrivateAddress, PublicAddress string

	// PeerRelation is the peer relation's id ("replication:N"), "" until Juju makes it
	// (after install); Peers are the other units' bags in it, Self this unit's own and
	// AppBag the application's.
	PeerRelation string
	Peers        map[string]map[string]string
	Self         map[string]string
	AppBag       AppState

	Expected   []string        // units Juju means the application to have (goal-state), for the first choice
	Dying      bool            // goal-state says this unit is being removed
	DyingUnits map[string]bool // every unit goal-state says is being removed
	Departing  string          // JUJU_DEPARTING_UNIT

	Storage    string // where pgdata is mounted; "" when not attached (or detaching)
	StorageID  string // its storage id (pgdata/N)
	HadStorage string // the pgdata storage this unit has had (unit state), "" if never
	// StorageClosed says the volume's root does not let postgres through (a provisioner's
	// umask): the server could not reach its data directory.
	StorageClosed bool

	// ConfigProblem is the first option the charm cannot use (Config.Problems).
	ConfigProblem string
	Version       VersionFacts

	Local Local
	// Configured says the cluster's configuration exists (pg_createcluster or adopt ran).
	Configured bool
	// NeedsRestart says the running server has settings that wait for a restart.
	NeedsRestart bool
	// ConfigHash identifies the charm configuration this hook sees; Applied the one this
	// unit's server settings were last written from (its bag's KeyApplied, then what
	// configure wrote). The leader lets the primary restart only once the running
	// standbys applied what it did (StandbysBehind).
	ConfigHash, Applied string
	// ConfFile is what is wrong with postgresql.conf (postgres's file) when it names another
	// data directory or socket than the charm's.
	ConfFile string
	// Streaming are the standbys (application_name) streaming from the local server while
	// it runs out of recovery.
	Streaming []string
	// Slots are the replication slots on the local server while it runs out of recovery.
	Slots []string
	// Quorum is the quorum commit the options ask for.
	Quorum SyncOptions
	// Server are the other inputs of the server's settings (decideSettings).
	Server ServerFacts
	// StaleRestore says a wal-e-restore record changed nothing and can go.
	StaleRestore bool
	// DataDirUnrecorded says the cluster predates the charm recording its data directory.
	DataDirUnrecorded bool

	Secret    SecretFacts
	Clients   ClientsFacts
	Databases DatabasesFacts
	// Claims are the decisions on every client's claim on its database (DecideClaims),
	// from the owners the running server reports; nil while it cannot be asked.
	Claims  map[string]ClaimDecision
	HBA     HBAOptions
	Archive ArchiveFacts
	// OldData are the data directories moved aside and kept; NewestBackup is the finish
	// time of the newest complete base backup of this unit's database in its archive.
	OldData      []OldCopy
	NewestBackup time.Time
	// Measured are peers the leader read on their own servers (only when MeasureWanted
	// names them): relation data may be stale, and a failover is decided on positions.
	Measured map[string]Unit
	// Probes are what this unit's failover agent last saw of every server (the leader's
	// judge a failover: DecideFailover); nil without a fresh report. FailoverTimeout is
	// the failover_timeout option (0: no automatic failover).
	Probes          map[string]Probe
	FailoverTimeout time.Duration
	// Isolated: this unit's agent reaches the machines of no majority of the units (a
	// fresh report says so). A primary cut off like this may have been failed over: it
	// does not start its server, nor relax its quorum commit, until it is back.
	Isolated bool
}

// Peered says the peer relation exists.
func (o Observed) Peered() bool { return o.PeerRelation != "" }

// VersionFacts are what decides the PostgreSQL major version the unit runs.
type VersionFacts struct {
	Major     string // the version the unit runs (or will)
	Fixed     bool   // recorded at install time in the unit's state: it never changes in place
	Option    string // the version option, "" for the default
	Installed bool   // its packages are installed
}

// SyncOptions are the quorum commit options.
type SyncOptions struct {
	Standbys int  // synchronous_standbys: how many standbys must have each commit
	Strict   bool // synchronous_strict: never relax to asynchronous
}

// SecretFacts are what the application's secret holds, as far as deciding goes (the
// content itself stays with the charm).
type SecretFacts struct {
	Password bool   // the replication password is there
	CA       string // the fingerprint of the CA in it, "" when it has none
}

// Setup are the unit's preparations before its server is looked at again: packages, the
// unit state that records what the unit has, and the storage's mode.
type Setup struct {
	Install            string // install this PostgreSQL major version's packages
	RecordVersion      string // record the version in the unit's state (it is fixed from now on)
	RecordStorage      string // record the pgdata storage the unit has
	OpenStorage        bool   // let postgres through the volume's root
	RemoveStaleRestore bool   // remove a wal-e-restore record that changed nothing
	RecordDataDir      bool   // record the data directory of a cluster made before the charm did
}

// SecretAction is what the leader does to the application's secret.
type SecretAction struct {
	Create bool // create it: a new replication password and CA
	AddCA  bool // add a CA to a secret made before the charm had one
}

// Desired is what one hook is to bring about.
type Desired struct {
	// Teardown says the unit leaves PostgreSQL stopped and does nothing else; TeardownBag
	// is what it tells its peers then (nil when its bag says so already).
	Teardown    bool
	TeardownBag map[string]string

	// Halt says the unit goes no further than Setup: the operator must fix something
	// first (the status says what).
	Halt  bool
	Setup Setup

	Secret SecretAction
	// Hold says the unit publishes its report and waits (for the application's secret).
	Hold bool

	// App is the application bag the leader writes (only a leader's is written).
	App AppState
	// Primary is the chosen primary and IsPrimary whether this unit serves as it now: the
	// one answer every stage that acts only on the primary uses.
	Primary   string
	IsPrimary bool

	// HBA are the pg_hba rules the server runs with; Admits the peers they admit for
	// replication (published, so the primary's standbys know they may connect).
	HBA    []hba.Rule
	Admits []string
	// CertHosts are the names the server certificate holds: every address the unit is
	// reached at (peer, private, public, and its ingress address on every client relation).
	CertHosts []string
	// RefreshStandby says a settled standby writes its standby settings again (they
	// follow archiving's restore_command), reloading if they changed.
	RefreshStandby bool
	// Restart says the server restarts now to apply settings (the unit holds the lock).
	Restart bool

	// Slots are the primary's replication slots.
	Slots SlotPlan

	// Sync is the quorum commit the unit's server runs with.
	Sync SyncPlan
	// Settings are every setting the unit's server runs with (the quorum commit's
	// included); nil when SettingsRefused says why extra_pg_conf cannot be taken.
	Settings        pgconf.Settings
	SettingsRefused string
	Clients         ClientsPlan
	Databases       DatabasesPlan
	Archive         ArchivePlan
	OldData         OldDataPlan

	// Step is the next thing this unit does to its server, towards Target.
	Step   Step
	Target Target

	// Announce says the unit opens its port and sets the application version: its server
	// exists and it has not done so since the charm or its configuration changed.
	Announce bool

	Why    StatusFacts
	Status Status
}
