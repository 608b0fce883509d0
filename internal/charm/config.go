package charm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/hba"
)

// Config mirrors config.yaml; config-get --all --format=json fills it.
type Config struct {
	Version                 string `json:"version"`
	Locale                  string `json:"locale"`
	Encoding                string `json:"encoding"`
	ExtraPgConf             string `json:"extra_pg_conf"`
	ExtraPgAuth             string `json:"extra_pg_auth"`
	AdminAddresses          string `json:"admin_addresses"`
	MaxConnections          int    `json:"max_connections"`
	SynchronousStandbys     int    `json:"synchronous_standbys"`
	SynchronousStrict       bool   `json:"synchronous_strict"`
	FailoverTimeout         int    `json:"failover_timeout"`
	WalEStorageURI          string `json:"wal_e_storage_uri"`
	WalEBackupSchedule      string `json:"wal_e_backup_schedule"`
	WalEBackupRetention     int    `json:"wal_e_backup_retention"`
	WalEBackupRetentionDays int    `json:"wal_e_backup_retention_days"`
	WalECompression         string `json:"wal_e_compression"`
	OSAuthURL               string `json:"os_auth_url"`
	OSUsername              string `json:"os_username"`
	OSPassword              string `json:"os_password"`
	OSTenantName            string `json:"os_tenant_name"`
	OSProjectName           string `json:"os_project_name"`
	OSRegionName            string `json:"os_region_name"`
	OSUserDomainName        string `json:"os_user_domain_name"`
	OSProjectDomainName     string `json:"os_project_domain_name"`
	OSIdentityAPIVersion    string `json:"os_identity_api_version"`
	AWSAccessKeyID          string `json:"aws_access_key_id"`
	AWSSecretAccessKey      string `json:"aws_secret_access_key"`
	AWSRegion               string `json:"aws_region"`
	AWSEndpoint             string `json:"aws_endpoint"`
	WABSAccountName         string `json:"wabs_account_name"`
	WABSAccessKey           string `json:"wabs_access_key"`
	AzureEndpoint           string `json:"azure_endpoint"`
	GCSCredentials          string `json:"gcs_credentials"`
	GCSEndpoint             string `json:"gcs_endpoint"`

	DatabaseAllowSuperuser bool `json:"database_allow_superuser"`
	TLSRequired            bool `json:"tls_required"`
}

// ConfigProblem is an option whose value the charm cannot use, with what to do about it.
// It becomes the unit's blocked status, so it names the option first.
type ConfigProblem struct {
	Option string
	Reason string
}

func (p ConfigProblem) Error() string { return p.Option + ": " + p.Reason }

// maxSynchronousStandbys bounds the synchronous_standbys option (PostgreSQL takes any
// number; more than this many copies of each commit is a typo).
const maxSynchronousStandbys = 100

var versionPattern = regexp.MustCompile(`^(|[0-9]+)$`)

// Problems checks every option that can be judged without the server and returns the
// problems in config.yaml's order. Settings PostgreSQL must judge (extra_pg_conf values)
// are checked against the server later.
func (c Config) Problems() []ConfigProblem {
	var ps []ConfigProblem
	add := func(opt, format string, args ...any) {
		ps = append(ps, ConfigProblem{Option: opt, Reason: fmt.Sprintf(format, args...)})
	}
	if !versionPattern.MatchString(c.Version) {
		add("version", "%q is not a major version; use a number such as 16, or empty for the distribution's", c.Version)
	}
	if strings.TrimSpace(c.Locale) == "" {
		add("locale", "must not be empty; use C or a locale such as en_US.UTF-8")
	}
	if strings.TrimSpace(c.Encoding) == "" {
		add("encoding", "must not be empty; use UTF-8")
	}
	if _, err := ParseAddresses(c.AdminAddresses); err != nil {
		add("admin_addresses", "%v; use comma-separated addresses or CIDRs such as 10.0.0.5,192.168.0.0/24", err)
	}
	if c.MaxConnections < 1 || c.MaxConnections > 262143 {
		add("max_connections", "%d is out of range; use a number from 1 to 262143", c.MaxConnections)
	}
	if c.SynchronousStandbys < 0 || c.SynchronousStandbys > maxSynchronousStandbys {
		add("synchronous_standbys", "%d is out of range; use how many standbys must have each commit (1, the default), or 0 for asynchronous replication", c.SynchronousStandbys)
	}
	if p := failoverProblem(c.FailoverTimeout); p != "" {
		add("failover_timeout", "%s", p)
	}
	if c.WalEStorageURI != "" && !hasStoreScheme(c.WalEStorageURI) {
		add("wal_e_storage_uri", "%q has an unknown scheme; use s3://, swift://, azure://, wabs://, gs:// or file://", c.WalEStorageURI)
	}
	if c.WalEBackupSchedule != "" {
		if err := plan.CheckSchedule(c.WalEBackupSchedule); err != nil {
			add("wal_e_backup_schedule", "%v", err)
		}
	}
	if extra := strings.TrimSpace(c.ExtraPgAuth); extra != "" {
		if err := hba.CheckRaw(extra); err != nil {
			add("extra_pg_auth", "%v; use pg_hba.conf lines such as \"host all all 10.0.0.0/8 scram-sha-256\"", err)
		} else if err := plan.CheckTLSOnlyAuth(extra, c.TLSRequired); err != nil {
			add("extra_pg_auth", "%v", err)
		}
	}
	if c.WalEBackupRetentionDays < 0 {
		add("wal_e_backup_retention_days", "%d is negative; use the number of days of backups to keep, or 0 for no limit by age", c.WalEBackupRetentionDays)
	}
	if c.WalEBackupRetention < 0 {
		add("wal_e_backup_retention", "%d is negative; use the number of backups to keep, or 0 to keep all", c.WalEBackupRetention)
	}
	switch c.WalECompression {
	case "lz4", "zstd", "none":
	default:
		add("wal_e_compression", "%q is not supported; use lz4, zstd or none", c.WalECompression)
	}
	return ps
}

func hasStoreScheme(uri string) bool {
	for _, s := range []string{"s3://", "swift://", "azure://", "wabs://", "gs://", "file://"} {
		if strings.HasPrefix(strings.ToLower(uri), s) {
			return true
		}
	}
	return false
}

// ParseAddresses reads a comma-separated list of addresses and CIDRs; a bare address
// becomes a single-host prefix.
func ParseAddresses(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Hash identifies this configuration: every unit that sees the same options gets the same
// hash, so a unit's report of the one its server's settings came from tells the leader
// whether it has applied the application's current options (plan.StandbysBehind). It is
// keyed with the application's replication password, so the hash a peer bag carries says
// nothing about the credential options it covers.
func (c Config) Hash(key string) string {
	b, _ := json.Marshal(c) // plain options: cannot fail
	m := hmac.New(sha256.New, []byte(key))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)[:8])
}
