package plan

import (
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Peer relation keys. The leader writes the application bag; each unit writes its own.
const (
	KeyPrimary       = "primary"          // app: the unit chosen as primary
	KeySwitchover    = "switchover"       // app: a unit the switchover action asked to promote
	KeyRestartHolder = "restart-holder"   // app: the unit allowed to restart now
	KeySecretID      = "secret-id"        // app: the Juju secret holding the charm's own passwords
	KeyAppSystemID   = "system-id"        // app: the application's database (RecordSystemID)
	KeyClientSecrets = "client-secrets"   // app: the Juju secret of each client application (relations.go)
	KeyDBSecrets     = "database-secrets" // app: the credentials secret of each database relation (database.go)
	KeyCA            = "ca"               // app: the fingerprint of the CA in the application secret (tls.go)
	KeyTLSSecret     = "tls-secret"       // app: the database relations' tls secret (tls.go)
	KeyFailed        = "failed-primary"   // app: a primary the leader failed over from (failover.go)
	KeyFailover      = "failover"         // app: the standby a failover chose, until it serves (failover.go)

	KeyAddress   = "address" // unit: where peers and the leader reach this unit's server
	KeyRole      = "role"
	KeyHasData   = "has-data"
	KeySystemID  = "system-id"
	KeyTimeline  = "timeline"
	KeyHistory   = "history" // unit: the primary's timeline history, "TLI:SWITCHLSN ..." (FormatHistory)
	KeyLSN       = "lsn"
	KeyFollowing = "following"
	KeyVersion   = "version"
	KeyRestart   = "restart-request"  // unit: a restart is pending and waits for the lock
	KeyApplied   = "settings-applied" // unit: the configuration (Observed.ConfigHash) its server's settings were last written from
	KeyRestore   = "restore"          // unit: the point-in-time restore its database descends from
	KeyAdmits    = "admits"           // unit: peers its pg_hba admits for replication
	KeyClients   = "clients"          // unit: client requests provisioned on the primary (relations.go)
	KeyDetached  = "storage-detached" // unit: its pgdata storage went away; it never serves (Unit.Detached)
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
	Failed          string // a failed primary: its stale "primary" report is no rival
	Failover        string // the standby a failover in progress promotes
}

func ParseAppState(d map[string]string) AppState {
	return AppState{
		Primary:         d[KeyPrimary],
		Switchover:      d[KeySwitchover],
		RestartHolder:   d[KeyRestartHolder],
		SecretID:        d[KeySecretID],
		SystemID:        d[KeyAppSystemID],
		ClientSecrets:   d[KeyClientSecrets],
		DatabaseSecrets: d[KeyDBSecrets],
		CA:              d[KeyCA],
		TLSSecret:       d[KeyTLSSecret],
		Failed:          d[KeyFailed],
		Failover:        d[KeyFailover],
	}
}

func (a AppState) Data() map[string]string {
	return map[string]string{
		KeyPrimary:       a.Primary,
		KeySwitchover:    a.Switchover,
		KeyRestartHolder: a.RestartHolder,
		KeySecretID:      a.SecretID,
		KeyAppSystemID:   a.SystemID,
		KeyClientSecrets: a.ClientSecrets,
		KeyDBSecrets:     a.DatabaseSecrets,
		KeyCA:            a.CA,
		KeyTLSSecret:     a.TLSSecret,
		KeyFailed:        a.Failed,
		KeyFailover:      a.Failover,
	}
}

// UnitReport is what each unit publishes about itself.
type UnitReport struct {
	Address        string
	Role           Role
	HasData        bool
	SystemID       string
	Timeline       uint32
	History        []wal.HistoryEntry // a primary's timeline history (its newest entries)
	LSN            wal.LSN
	Following      string
	Version        string
	RestartRequest bool
	Applied        string
	Clients        string
	Restore        string
	Admits         string
	Detached       bool
}

func ParseUnitReport(name string, d map[string]string) (UnitReport, Unit) {
	tl, _ := strconv.ParseUint(d[KeyTimeline], 10, 32)
	lsn, _ := wal.ParseLSN(d[KeyLSN])
	r := UnitReport{
		Address:        d[KeyAddress],
		Role:           Role(d[KeyRole]),
		HasData:        d[KeyHasData] == "true",
		SystemID:       d[KeySystemID],
		Timeline:       uint32(tl),
		History:        ParseHistoryField(d[KeyHistory]),
		LSN:            lsn,
		Following:      d[KeyFollowing],
		Version:        d[KeyVersion],
		RestartRequest: d[KeyRestart] == "true",
		Applied:        d[KeyApplied],
		Clients:        d[KeyClients],
		Restore:        d[KeyRestore],
		Admits:         d[KeyAdmits],
		Detached:       d[KeyDetached] == "true",
	}
	_, reported := d[KeyHasData]
	return r, Unit{Name: name, Reported: reported, HasData: r.HasData, SystemID: r.SystemID,
		Timeline: r.Timeline, LSN: r.LSN, Role: r.Role, Detached: r.Detached}
}

func (r UnitReport) Data() map[string]string {
	d := map[string]string{
		KeyAddress:   r.Address,
		KeyRole:      string(r.Role),
		KeyHasData:   strconv.FormatBool(r.HasData),
		KeySystemID:  r.SystemID,
		KeyTimeline:  "",
		KeyHistory:   FormatHistory(r.History),
		KeyLSN:       "",
		KeyFollowing: r.Following,
		KeyVersion:   r.Version,
		KeyRestart:   "",
		KeyApplied:   r.Applied,
		KeyClients:   r.Clients,
		KeyRestore:   r.Restore,
		KeyAdmits:    r.Admits,
		KeyDetached:  "",
	}
	if r.Timeline > 0 {
		d[KeyTimeline] = strconv.FormatUint(uint64(r.Timeline), 10)
	}
	// A running server's position moves all the time; publishing it would wake every
	// peer on every hook. Only a stopped database's position (stable) is published;
	// the leader measures running ones directly when it needs them.
	if r.Role == RoleNone && r.HasData {
		d[KeyLSN] = r.LSN.String()
	}
	if r.RestartRequest {
		d[KeyRestart] = "true"
	}
	return d
}

// historyKept is how many of a timeline's newest history entries a primary publishes: a
// standby on an older timeline than those needs pg_rewind anyway (NeedsRewind says so of a
// timeline it cannot find), and the bag stays small however many failovers there were.
const historyKept = 8

// FormatHistory is the history field of a unit report: the newest entries, oldest first,
// as "TLI:SWITCHLSN" separated by spaces.
func FormatHistory(h []wal.HistoryEntry) string {
	h = h[max(0, len(h)-historyKept):]
	parts := make([]string, len(h))
	for i, e := range h {
		parts[i] = strconv.FormatUint(uint64(e.TLI), 10) + ":" + e.SwitchLSN.String()
	}
	return strings.Join(parts, " ")
}

// ParseHistoryField reads FormatHistory's text; an entry it cannot read ends the list
// there, so that a standby never skips a rewind on a history it misread.
func ParseHistoryField(s string) []wal.HistoryEntry {
	var h []wal.HistoryEntry
	for _, f := range strings.Fields(s) {
		t, l, _ := strings.Cut(f, ":")
		tli, err := strconv.ParseUint(t, 10, 32)
		if err != nil || tli == 0 {
			return h
		}
		lsn, err := wal.ParseLSN(l)
		if err != nil {
			return h
		}
		h = append(h, wal.HistoryEntry{TLI: uint32(tli), SwitchLSN: lsn})
	}
	return h
}
