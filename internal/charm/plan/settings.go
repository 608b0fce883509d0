package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/pgconf"
)

// ServerFacts are the inputs of the server's settings that Observed holds nowhere else.
type ServerFacts struct {
	MaxConnections int    // the max_connections option
	ExtraPgConf    string // the extra_pg_conf option, postgresql.conf text
	// CertFile and KeyFile are the server certificate's files in the cluster's
	// configuration directory ("" without a cluster): TLS is on when both are set.
	CertFile, KeyFile string
	// ArchiveCommand is what archive_command runs when archiving is on (the charm's
	// wal-push for the archive's URI).
	ArchiveCommand string
}

// archiveOff is archive_command while nothing is archived: archive_mode stays on so that
// turning archiving on never needs a restart, and the server keeps no WAL waiting for it.
const archiveOff = "/bin/true"

// decideSettings are the settings the unit's server runs with: the charm's baseline, then
// the user's extra_pg_conf, then what failover, archiving and the quorum commit need
// (which the user cannot override). An extra_pg_conf the charm cannot take (malformed, or
// setting what only the charm may set) is refused: the settings are nil and refused is
// the status that names the option and the fix.
func decideSettings(o Observed, archiving bool, sync SyncPlan) (s pgconf.Settings, refused string) {
	// Both need a restart to change, so they start generous and only grow with a large
	// application, never on every added unit.
	senders := max(16, 2*(len(o.Peers)+1)+6)
	base := pgconf.Baseline(pgconf.BaselineOptions{CertFile: o.Server.CertFile, KeyFile: o.Server.KeyFile,
		MaxWALSenders: senders, MaxReplicationSlots: senders})
	base.Set("max_connections", strconv.Itoa(o.Server.MaxConnections))
	extra, err := pgconf.ParseExtraConf(o.Server.ExtraPgConf)
	if err != nil {
		return nil, "extra_pg_conf: " + err.Error()
	}
	for _, kv := range extra {
		for _, p := range pgconf.ProtectedSettings {
			if strings.EqualFold(kv.Name, p) {
				return nil, fmt.Sprintf("extra_pg_conf: %s is managed by the charm; remove it", kv.Name)
			}
		}
	}
	archive := pgconf.Settings{{Name: "archive_mode", Value: "on"}, {Name: "archive_command", Value: archiveOff}}
	if archiving {
		archive.Set("archive_command", o.Server.ArchiveCommand)
	}
	quorum := pgconf.Settings{{Name: "synchronous_standby_names", Value: sync.Names}, {Name: "synchronous_commit", Value: sync.Commit}}
	return base.Merge(failoverSettings(o.FailoverTimeout)).Merge(extra).Merge(archive).Merge(quorum), ""
}

// failoverSettings make replication notice a lost peer within the failover timeout: a
// standby's WAL receiver pings its primary after half of wal_receiver_timeout of silence
// and gives up after all of it, so a standby that still "streams" has heard from its
// primary within the timeout (what the agent reports as reaching it), and a primary drops
// a dead standby from its quorum after wal_sender_timeout instead of a minute.
func failoverSettings(timeout time.Duration) pgconf.Settings {
	t := int(timeout / time.Second)
	if t <= 0 {
		return nil
	}
	v := strconv.Itoa(t) + "s"
	return pgconf.Settings{{Name: "wal_receiver_timeout", Value: v}, {Name: "wal_sender_timeout", Value: v}}
}
