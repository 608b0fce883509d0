package pgconf

import "strconv"

// BaselineOptions are the inputs of the settings every unit runs with.
type BaselineOptions struct {
	// WALLevel is "replica" (default) or "logical".
	WALLevel string
	// MaxWALSenders and MaxReplicationSlots default to 10.
	MaxWALSenders       int
	MaxReplicationSlots int
	// CertFile and KeyFile turn SSL on (see EnsureSelfSignedCert).
	CertFile, KeyFile string
	// WALKeepSize is how much past WAL a server keeps beyond what
	// checkpoints need (default "1GB"). pg_rewind of a former primary needs
	// its own WAL back to the last checkpoint before the timelines split;
	// without an archive to fetch it from, only this keeps it.
	WALKeepSize string
}

// Baseline returns the settings the charm applies under the user's
// extra_pg_conf: replication-ready (hot standbys, slots, wal_log_hints for
// pg_rewind), SCRAM passwords, SSL, and logging that names who did what.
func Baseline(o BaselineOptions) Settings {
	walLevel := o.WALLevel
	if walLevel == "" {
		walLevel = "replica"
	}
	senders := o.MaxWALSenders
	if senders <= 0 {
		senders = 10
	}
	slots := o.MaxReplicationSlots
	if slots <= 0 {
		slots = 10
	}
	keep := o.WALKeepSize
	if keep == "" {
		keep = "1GB"
	}
	s := Settings{
		{"listen_addresses", "*"},
		{"password_encryption", "scram-sha-256"},
		{"wal_level", walLevel},
		{"hot_standby", "on"},
		{"max_wal_senders", strconv.Itoa(senders)},
		{"max_replication_slots", strconv.Itoa(slots)},
		{"wal_log_hints", "on"},
		{"wal_keep_size", keep},
		{"recovery_target_timeline", "latest"},
		{"log_line_prefix", "%m [%p] %q%u@%d "},
		{"log_checkpoints", "on"},
		{"log_connections", "on"},
		{"log_disconnections", "on"},
	}
	if o.CertFile != "" && o.KeyFile != "" {
		s.Set("ssl", "on")
		s.Set("ssl_cert_file", o.CertFile)
		s.Set("ssl_key_file", o.KeyFile)
	}
	return s
}

// ProtectedSettings are owned by the cluster's layout (Debian's
// postgresql.conf or this package); a user's extra_pg_conf overriding them
// would break the unit.
var ProtectedSettings = []string{
	"data_directory", "config_file", "hba_file", "ident_file", "external_pid_file",
	"port", "unix_socket_directories", "cluster_name",
	"primary_conninfo", "primary_slot_name",
	// The quorum commit (synchronous_standbys and synchronous_strict set them).
	"synchronous_standby_names", "synchronous_commit",
}
