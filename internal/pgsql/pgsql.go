// Package pgsql is the pgsql relation protocol of the original PostgreSQL charm as data:
// the keys each side sets, user names, connection strings and the client's rules for
// trusting what the server published. The charm (provider) and the test client charm
// (requirer) both use it, so they cannot drift apart.
package pgsql

import (
	"crypto/md5"
	"encoding/hex"
	"net/netip"
	"sort"
	"strings"
)

// Relation endpoints of the interface.
const (
	EndpointDB      = "db"
	EndpointDBAdmin = "db-admin"
)

// States a server unit publishes.
const (
	StateMaster     = "master"
	StateStandby    = "hot standby"
	StateStandalone = "standalone"
)

// UserName is the role a client application gets: juju_<app> on db, jujuadmin_<app>
// (superuser) on db-admin. Names past PostgreSQL's 63-byte limit keep their first 31
// bytes and add the md5 of the whole name, as the original charm did, so that existing
// deployments keep their users.
func UserName(endpoint, remoteApp string) string {
	app, _, _ := strings.Cut(remoteApp, "/")
	name := "juju_" + app
	if endpoint == EndpointDBAdmin {
		name = "jujuadmin_" + app
	}
	if len(name) > 63 {
		sum := md5.Sum([]byte(name))
		name = name[:31] + hex.EncodeToString(sum[:])
	}
	return name
}

// Request is what a client asks for.
type Request struct {
	Database   string   // empty: the server uses the client application's name
	Roles      []string // sorted
	Extensions []string // sorted; "name" or "name(schema)"
}

// ParseRequest reads a client unit's (or application's) relation data.
func ParseRequest(data map[string]string) Request {
	return Request{
		Database:   strings.TrimSpace(data["database"]),
		Roles:      SplitList(data["roles"]),
		Extensions: SplitList(data["extensions"]),
	}
}

// Data renders a request as relation data.
func (r Request) Data() map[string]string {
	return map[string]string{
		"database":   r.Database,
		"roles":      strings.Join(r.Roles, ","),
		"extensions": strings.Join(r.Extensions, ","),
	}
}

// SplitList reads a comma-separated list, sorted, without blanks or duplicates.
func SplitList(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// Extension splits "name(schema)" into its parts; schema is empty for a bare name.
func Extension(spec string) (name, schema string) {
	name, rest, ok := strings.Cut(spec, "(")
	if !ok {
		return strings.TrimSpace(spec), ""
	}
	return strings.TrimSpace(name), strings.TrimSpace(strings.TrimSuffix(rest, ")"))
}

// Published is what each server unit sets on a client relation.
type Published struct {
	Database       string
	User           string
	Password       string
	SchemaUser     bool // db only: also publish schema_user/schema_password (deprecated aliases)
	Roles          []string
	Extensions     []string
	Version        string
	State          string
	Host           string
	Port           string
	AllowedUnits   []string
	AllowedSubnets []netip.Prefix
	Master         ConnString // empty while there is no primary
	Standbys       []ConnString
}

// Data renders the published keys; empty values are sent as deletions ("").
func (p Published) Data() map[string]string {
	d := map[string]string{
		"database":        p.Database,
		"user":            p.User,
		"password":        p.Password,
		"schema_user":     "",
		"schema_password": "",
		"roles":           strings.Join(p.Roles, ","),
		"extensions":      strings.Join(p.Extensions, ","),
		"version":         p.Version,
		"state":           p.State,
		"host":            p.Host,
		"port":            p.Port,
		"allowed-units":   strings.Join(sorted(p.AllowedUnits), " "),
		"allowed-subnets": joinPrefixes(p.AllowedSubnets),
		"master":          p.Master.String(),
		"standbys":        "",
	}
	if p.SchemaUser {
		d["schema_user"], d["schema_password"] = p.User, p.Password
	}
	var sb []string
	for _, s := range p.Standbys {
		sb = append(sb, s.String())
	}
	sort.Strings(sb)
	d["standbys"] = strings.Join(sb, "\n")
	return d
}

func sorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func joinPrefixes(ps []netip.Prefix) string {
	var s []string
	seen := map[string]bool{}
	for _, p := range ps {
		if t := p.Masked().String(); !seen[t] {
			seen[t] = true
			s = append(s, t)
		}
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// ParsePrefixes reads egress-subnets or allowed-subnets: comma-separated CIDRs, bare
// addresses taken as single hosts. Unparseable entries are dropped.
func ParsePrefixes(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}
