package charm

import (
	"strconv"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Peer relation keys. The leader writes the application bag; each unit writes its own.
const (
	keyPrimary       = "primary"          // app: the unit chosen as primary
	keySwitchover    = "switchover"       // app: a unit the switchover action asked to promote
	keyRestartHolder = "restart-holder"   // app: the unit allowed to restart now
	keySecretID      = "secret-id"        // app: the Juju secret holding the charm's own passwords
	keyAppSystemID   = "system-id"        // app: the application's database (plan.RecordSystemID)
	keyClientSecrets = "client-secrets"   // app: the Juju secret of each client application (relations.go)
	keyDBSecrets     = "database-secrets" // app: the credentials secret of each database relation (database.go)
	keyCA            = "ca"               // app: the fingerprint of the CA in the application secret (tls.go)
	keyTLSSecret     = "tls-secret"       // app: the database relations' tls secret (tls.go)

	keyAddress   = "address" // unit: where peers and the leader reach this unit's server
	keyRole      = "role"
	keyHasData   = "has-data"
	keySystemID  = "system-id"
	keyTimeline  = "timeline"
	keyLSN       = "lsn"
	keyFollowing = "following"
	keyVersion   = "version"
	keyRestart   = "restart-request"  // unit: a restart is pending and waits for the lock
	keyRestore   = "restore"          // unit: the point-in-time restore its database descends from
	keyAdmits    = "admits"           // unit: peers its pg_hba admits for replication
	keyClients   = "clients"          // unit: client requests provisioned on the primary (relations.go)
	keyDetached  = "storage-detached" // unit: its pgdata storage went away; it never serves (plan.Unit.Detached)
)

// AppState is what the leader keeps in the peer relation's application bag.
type AppState struct {
	Primary         string
	Switchover      string
	RestartHolder   string
	SecretID        string
	SystemID        string // the application's database, recorded by the leader
	ClientSecrets   string
	DatabaseSecrets string
	CA              string
	TLSSecret       string
}

func parseAppState(d map[string]string) AppState {
	return AppState{
		Primary:         d[keyPrimary],
		Switchover:      d[keySwitchover],
		RestartHolder:   d[keyRestartHolder],
		SecretID:        d[keySecretID],
		SystemID:        d[keyAppSystemID],
		ClientSecrets:   d[keyClientSecrets],
		DatabaseSecrets: d[keyDBSecrets],
		CA:              d[keyCA],
		TLSSecret:       d[keyTLSSecret],
	}
}

func (a AppState) data() map[string]string {
	return map[string]string{
		keyPrimary:       a.Primary,
		keySwitchover:    a.Switchover,
		keyRestartHolder: a.RestartHolder,
		keySecretID:      a.SecretID,
		keyAppSystemID:   a.SystemID,
		keyClientSecrets: a.ClientSecrets,
		keyDBSecrets:     a.DatabaseSecrets,
		keyCA:            a.CA,
		keyTLSSecret:     a.TLSSecret,
	}
}

// UnitReport is what each unit publishes about itself.
type UnitReport struct {
	Address        string
	Role           plan.Role
	HasData        bool
	SystemID       string
	Timeline       uint32
	LSN            wal.LSN
	Following      string
	Version        string
	RestartRequest bool
	Clients        string
	Restore        string
	Admits         string
	Detached       bool
}

func parseUnitReport(name string, d map[string]string) (UnitReport, plan.Unit) {
	tl, _ := strconv.ParseUint(d[keyTimeline], 10, 32)
	lsn, _ := wal.ParseLSN(d[keyLSN])
	r := UnitReport{
		Address:        d[keyAddress],
		Role:           plan.Role(d[keyRole]),
		HasData:        d[keyHasData] == "true",
		SystemID:       d[keySystemID],
		Timeline:       uint32(tl),
		LSN:            lsn,
		Following:      d[keyFollowing],
		Version:        d[keyVersion],
		RestartRequest: d[keyRestart] == "true",
		Clients:        d[keyClients],
		Restore:        d[keyRestore],
		Admits:         d[keyAdmits],
		Detached:       d[keyDetached] == "true",
	}
	_, reported := d[keyHasData]
	return r, plan.Unit{Name: name, Reported: reported, HasData: r.HasData, SystemID: r.SystemID,
		Timeline: r.Timeline, LSN: r.LSN, Role: r.Role, Detached: r.Detached}
}

func (r UnitReport) data() map[string]string {
	d := map[string]string{
		keyAddress:   r.Address,
		keyRole:      string(r.Role),
		keyHasData:   strconv.FormatBool(r.HasData),
		keySystemID:  r.SystemID,
		keyTimeline:  "",
		keyLSN:       "",
		keyFollowing: r.Following,
		keyVersion:   r.Version,
		keyRestart:   "",
		keyClients:   r.Clients,
		keyRestore:   r.Restore,
		keyAdmits:    r.Admits,
		keyDetached:  "",
	}
	if r.Timeline > 0 {
		d[keyTimeline] = strconv.FormatUint(uint64(r.Timeline), 10)
	}
	// A running server's position moves all the time; publishing it would wake every
	// peer on every hook. Only a stopped database's position (stable) is published;
	// the leader measures running ones directly when it needs them.
	if r.Role == plan.RoleNone && r.HasData {
		d[keyLSN] = r.LSN.String()
	}
	if r.RestartRequest {
		d[keyRestart] = "true"
	}
	return d
}
