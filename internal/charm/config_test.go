package charm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	jujucharm "github.com/juju/charm/v12"

	"github.com/pgcharm/postgresql"
)

func defaultConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := jujucharm.ReadConfig(bytes.NewReader(postgresql.Config))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg.DefaultSettings())
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultsHaveNoProblems(t *testing.T) {
	if ps := defaultConfig(t).Problems(); len(ps) != 0 {
		t.Fatalf("defaults rejected: %v", ps)
	}
}

func TestProblemsNameTheOptionAndTheFix(t *testing.T) {
	cases := []struct {
		change func(*Config)
		option string
		text   string
	}{
		{func(c *Config) { c.Version = "fifteen" }, "version", "use a number"},
		{func(c *Config) { c.Locale = " " }, "locale", "en_US.UTF-8"},
		{func(c *Config) { c.Encoding = "" }, "encoding", "UTF-8"},
		{func(c *Config) { c.AdminAddresses = "10.0.0.1, nonsense" }, "admin_addresses", `"nonsense" is not an address`},
		{func(c *Config) { c.AdminAddresses = "10.0.0.0/33" }, "admin_addresses", "CIDR"},
		{func(c *Config) { c.MaxConnections = 0 }, "max_connections", "1 to 262143"},
		{func(c *Config) { c.SynchronousStandbys = -1 }, "synchronous_standbys", "0 for asynchronous"},
		{func(c *Config) { c.WalEStorageURI = "ftp://x" }, "wal_e_storage_uri", "unknown scheme"},
		{func(c *Config) { c.WalEBackupSchedule = "every day" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupSchedule = "@daily" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupSchedule = "61 * * * *" }, "wal_e_backup_schedule", "five-field cron"},
		// robfig/cron panics on a bare time zone; a newline would add a line to root's cron file.
		{func(c *Config) { c.WalEBackupSchedule = "TZ=UTC" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupSchedule = "TZ=UTC 13 0 * * *" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupSchedule = "CRON_TZ=x" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupSchedule = "13 0 * * *\n* * * * * root touch /owned" }, "wal_e_backup_schedule", "five-field cron"},
		{func(c *Config) { c.WalEBackupRetention = -1 }, "wal_e_backup_retention", "negative"},
		{func(c *Config) { c.WalEBackupRetentionDays = -1 }, "wal_e_backup_retention_days", "negative"},
		// A typo in extra_pg_auth used to fail rendering pg_hba.conf: the hook errored.
		{func(c *Config) { c.ExtraPgAuth = "host all all 10.0.0.0/8 scram" }, "extra_pg_auth", "unknown authentication method"},
		{func(c *Config) { c.WalECompression = "gzip" }, "wal_e_compression", "lz4, zstd or none"},
	}
	for _, tc := range cases {
		c := defaultConfig(t)
		tc.change(&c)
		ps := c.Problems()
		if len(ps) != 1 {
			t.Errorf("%s: got %d problems %v, want 1", tc.option, len(ps), ps)
			continue
		}
		if ps[0].Option != tc.option || !strings.HasPrefix(ps[0].Error(), tc.option+": ") || !strings.Contains(ps[0].Error(), tc.text) {
			t.Errorf("%s: problem %q does not name the option and %q", tc.option, ps[0].Error(), tc.text)
		}
	}
}

func TestParseAddresses(t *testing.T) {
	got, err := ParseAddresses(" 10.0.0.5, 192.168.1.7/24 ,,fd00::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.5/32", "192.168.1.0/24", "fd00::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("got %s, want %s", got[i], want[i])
		}
	}
}
