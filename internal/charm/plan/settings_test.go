package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/pgconf"
)

// The settings of a settled primary of two units without options: the baseline with
// max_connections, archive_mode on with nothing archived, and the quorum commit, in the
// order the include file lists them.
func TestDecideSettingsBaseline(t *testing.T) {
	o := settledPrimary()
	o.Server = ServerFacts{MaxConnections: 100}
	d := Decide(o)
	want := pgconf.Settings{
		{Name: "listen_addresses", Value: "*"},
		{Name: "password_encryption", Value: "scram-sha-256"},
		{Name: "wal_level", Value: "replica"},
		{Name: "hot_standby", Value: "on"},
		{Name: "max_wal_senders", Value: "16"},
		{Name: "max_replication_slots", Value: "16"},
		{Name: "wal_log_hints", Value: "on"},
		{Name: "wal_keep_size", Value: "1GB"},
		{Name: "recovery_target_timeline", Value: "latest"},
		{Name: "log_line_prefix", Value: "%m [%p] %q%u@%d "},
		{Name: "log_checkpoints", Value: "on"},
		{Name: "log_connections", Value: "on"},
		{Name: "log_disconnections", Value: "on"},
		{Name: "max_connections", Value: "100"},
		{Name: "archive_mode", Value: "on"},
		{Name: "archive_command", Value: "/bin/true"},
		{Name: "synchronous_standby_names", Value: d.Sync.Names},
		{Name: "synchronous_commit", Value: d.Sync.Commit},
	}
	if !reflect.DeepEqual(d.Settings, want) || d.SettingsRefused != "" {
		t.Errorf("settings:\n%v\nwant\n%v (refused %q)", d.Settings, want, d.SettingsRefused)
	}
	if d.Sync.Commit == "" {
		t.Errorf("no synchronous_commit decided: %+v", d.Sync)
	}
}

func TestDecideSettings(t *testing.T) {
	const pushCmd = "exec '/usr/local/lib/postgresql-charm/pgcharm' wal-push --config '/x.json' \"%p\""
	with := func(mk func() Observed, f func(*Observed)) Observed {
		o := mk()
		o.Server = ServerFacts{MaxConnections: 100, ArchiveCommand: pushCmd}
		f(&o)
		return o
	}
	many := func(o *Observed) {
		for _, u := range []string{"postgresql/3", "postgresql/4", "postgresql/5", "postgresql/6", "postgresql/7"} {
			o.Peers[u] = map[string]string{}
		}
	}
	cases := []struct {
		name string
		o    Observed
		want map[string]string // "" for a setting that is absent
	}{
		{"TLS files turn ssl on", with(settledPrimary, func(o *Observed) {
			o.Server.CertFile, o.Server.KeyFile = "/etc/postgresql/16/main/server.crt", "/etc/postgresql/16/main/server.key"
		}), map[string]string{"ssl": "on", "ssl_cert_file": "/etc/postgresql/16/main/server.crt", "ssl_key_file": "/etc/postgresql/16/main/server.key"}},
		{"no key: no ssl", with(settledPrimary, func(o *Observed) { o.Server.CertFile = "/c" }),
			map[string]string{"ssl": "", "ssl_cert_file": ""}},
		{"extra_pg_conf overrides the baseline and max_connections", with(settledPrimary, func(o *Observed) {
			o.Server.ExtraPgConf = "shared_buffers = 1GB\nLOG_CONNECTIONS = off\nmax_connections 300\nwal_keep_size = '4GB'\n"
		}), map[string]string{"shared_buffers": "1GB", "log_connections": "off", "max_connections": "300", "wal_keep_size": "4GB"}},
		{"extra_pg_conf cannot override archiving: the charm sets it after", with(settledPrimary, func(o *Observed) {
			o.Server.ExtraPgConf = "archive_command = 'cp %p /tmp/%f'\narchive_mode = off"
		}), map[string]string{"archive_command": "/bin/true", "archive_mode": "on"}},
		{"archiving on: the charm's wal-push", with(settledPrimary, func(o *Observed) {
			o.Archive = ArchiveFacts{URI: "file:///srv/archive", Binary: "/b", Config: "/x.json", DataDir: "/srv/pgdata/16/main"}
		}), map[string]string{"archive_mode": "on", "archive_command": pushCmd}},
		{"a standby archives with the same command (archive_mode=on runs it only on a primary)", with(settledStandby, func(o *Observed) {
			o.Archive = ArchiveFacts{URI: "file:///srv/archive", Binary: "/b", Config: "/x.json"}
		}), map[string]string{"archive_command": pushCmd}},
		{"failover_timeout bounds the replication timeouts", with(settledPrimary, func(o *Observed) { o.FailoverTimeout = 10 * time.Second }),
			map[string]string{"wal_receiver_timeout": "10s", "wal_sender_timeout": "10s"}},
		{"extra_pg_conf may lengthen them", with(settledPrimary, func(o *Observed) {
			o.FailoverTimeout = 10 * time.Second
			o.Server.ExtraPgConf = "wal_sender_timeout = 30s"
		}), map[string]string{"wal_receiver_timeout": "10s", "wal_sender_timeout": "30s"}},
		{"no failover: the server's own timeouts", with(settledPrimary, func(*Observed) {}),
			map[string]string{"wal_receiver_timeout": "", "wal_sender_timeout": ""}},
		{"senders and slots grow with a large application", with(settledPrimary, many),
			map[string]string{"max_wal_senders": "20", "max_replication_slots": "20"}},
	}
	for _, tc := range cases {
		d := Decide(tc.o)
		if d.SettingsRefused != "" || d.Settings == nil {
			t.Errorf("%s: refused %q", tc.name, d.SettingsRefused)
			continue
		}
		for name, want := range tc.want {
			if got, _ := d.Settings.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.name, name, got, want)
			}
		}
		// The quorum commit is always last, and always the decision's.
		n := len(d.Settings)
		if q := d.Settings[n-2:]; q[0] != (pgconf.Setting{Name: "synchronous_standby_names", Value: d.Sync.Names}) ||
			q[1] != (pgconf.Setting{Name: "synchronous_commit", Value: d.Sync.Commit}) {
			t.Errorf("%s: the settings end with %v, not the quorum commit %+v", tc.name, q, d.Sync)
		}
	}
}

// The quorum commit the primary decides is what its server runs with.
func TestDecideSettingsQuorum(t *testing.T) {
	o := settledPrimary()
	o.Quorum = SyncOptions{Standbys: 1}
	o.Streaming = []string{unitB}
	d := Decide(o)
	if d.Sync.Names == "" {
		t.Fatalf("no quorum decided: %+v", d.Sync)
	}
	for name, want := range map[string]string{"synchronous_standby_names": d.Sync.Names, "synchronous_commit": d.Sync.Commit} {
		if got, _ := d.Settings.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// An extra_pg_conf that sets what only the charm may set, or that does not parse, is
// refused whole: the unit blocks naming the option and the fix, and its server keeps the
// settings it has (no settings are decided).
func TestDecideSettingsRefused(t *testing.T) {
	_, parseErr := pgconf.ParseExtraConf("work_mem = 4 MB")
	if parseErr == nil {
		t.Fatal("work_mem = 4 MB parses")
	}
	cases := []struct{ extra, msg string }{
		{"port = 5433", "extra_pg_conf: port is managed by the charm; remove it"},
		{"shared_buffers = 1GB\nData_Directory = '/tmp/x'", "extra_pg_conf: data_directory is managed by the charm; remove it"},
		{"primary_conninfo = 'host=evil'", "extra_pg_conf: primary_conninfo is managed by the charm; remove it"},
		{"Synchronous_Commit = off", "extra_pg_conf: synchronous_commit is managed by the charm; remove it"},
		{"synchronous_standby_names = ''", "extra_pg_conf: synchronous_standby_names is managed by the charm; remove it"},
		{"work_mem = 4 MB", "extra_pg_conf: " + parseErr.Error()},
		{"include '/etc/passwd'", "extra_pg_conf: line 1 (include '/etc/passwd'): include directives are not allowed here"},
	}
	for _, tc := range cases {
		o := settledPrimary()
		o.Server = ServerFacts{MaxConnections: 100, ExtraPgConf: tc.extra}
		d := Decide(o)
		if d.Settings != nil || d.SettingsRefused != tc.msg {
			t.Errorf("%q: settings %v, refused %q, want %q", tc.extra, d.Settings, d.SettingsRefused, tc.msg)
		}
		if d.Status != (Status{StatusBlocked, tc.msg}) {
			t.Errorf("%q: status %+v", tc.extra, d.Status)
		}
		if !strings.HasPrefix(d.Status.Message, "extra_pg_conf: ") {
			t.Errorf("%q: the status does not name the option: %q", tc.extra, d.Status.Message)
		}
		// A unit with no server yet is not blocked by it: it creates or clones its
		// server first, and is refused when it configures it.
		o.Configured = false
		if d := Decide(o); d.SettingsRefused != tc.msg || d.Why.ServerConfig != "" {
			t.Errorf("%q, no cluster: refused %q, finding %q", tc.extra, d.SettingsRefused, d.Why.ServerConfig)
		}
	}
}
