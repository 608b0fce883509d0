package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgsql"
)

// ClientRelation is one db or db-admin relation as observed in the hook.
type ClientRelation struct {
	Endpoint string                       // pgsql.EndpointDB or pgsql.EndpointDBAdmin
	ID       string                       // "db:5"
	App      string                       // the remote application (the SAAS name across models)
	Units    map[string]map[string]string // remote units' bags
	AppBag   map[string]string            // the remote application's bag
}

// Client is what the charm makes of one client relation: who may connect, as whom, to
// what, or why the request is refused.
type Client struct {
	Endpoint, ID, App string
	User              string
	Request           pgsql.Request // Database resolved to the default when the client named none
	Units             []string      // the client's units, sorted
	Subnets           []netip.Prefix
	// Problem, when set, refuses the request: nothing is created and nothing published.
	Problem string
	// Admit is whether pg_hba admits the client: its database and user are valid names
	// (a bad role or extension request blocks the relation but keeps existing access).
	Admit bool
}

// Admin is whether the client is a db-admin (superuser) client.
func (c Client) Admin() bool { return c.Endpoint == pgsql.EndpointDBAdmin }

// Describe names the relation for status messages and logs.
func (c Client) Describe() string { return fmt.Sprintf("relation %s (%s)", c.ID, c.App) }

// identRE is what the charm accepts as a database, role or schema name a client asks
// for: what a Juju application name can be (so the default database always passes)
// plus underscores and upper case. Anything else is refused before it reaches SQL,
// where names are quoted anyway.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)

// extNameRE is what an extension name may look like (those in contrib and most others).
var extNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)

// reservedRole says why a client may not ask to be granted a role: membership in
// another client's user, the superuser, the charm's own roles or PostgreSQL's
// predefined roles would reach past the client's own database.
func reservedRole(name string) string {
	switch {
	case name == "postgres", name == "public", name == "juju_replication":
		return "is reserved"
	case strings.HasPrefix(name, "pg_"):
		return "is a predefined PostgreSQL role"
	case strings.HasPrefix(name, "juju_"), strings.HasPrefix(name, "jujuadmin_"), strings.HasPrefix(name, "jujurepl_"):
		return "is reserved for the charm's client users"
	}
	return ""
}

// DecideClient resolves a client relation's request and checks it. The request is
// read from the remote application's bag and then each unit's bag in name order (the
// first non-empty value wins), as clients of the original interface set it per unit.
// A unit's catch-all egress subnets are dropped and block the relation (isolation.go).
func DecideClient(rel ClientRelation) (c Client) {
	c = Client{Endpoint: rel.Endpoint, ID: rel.ID, App: rel.App, User: pgsql.UserName(rel.Endpoint, rel.App)}
	merged := map[string]string{}
	set := func(bag map[string]string) {
		for _, k := range []string{"database", "roles", "extensions"} {
			if merged[k] == "" && strings.TrimSpace(bag[k]) != "" {
				merged[k] = bag[k]
			}
		}
	}
	set(rel.AppBag)
	var wide string
	for _, u := range sortedKeys(rel.Units) {
		set(rel.Units[u])
		c.Units = append(c.Units, u)
		ps, why := ClientUnitSubnets(rel.Units[u])
		c.Subnets = append(c.Subnets, ps...)
		if wide == "" && why != "" {
			wide = fmt.Sprintf("unit %s: %s", u, why)
		}
	}
	c.Subnets = uniquePrefixes(c.Subnets)
	defer func() {
		if c.Problem == "" {
			c.Problem = wide
		}
	}()
	c.Request = pgsql.ParseRequest(merged)
	if c.Request.Database == "" {
		app, _, _ := strings.Cut(rel.App, "/")
		c.Request.Database = app
	}
	db := c.Request.Database
	switch {
	case !identRE.MatchString(db):
		c.Problem = fmt.Sprintf("database name %q is not a valid identifier (letters, digits, _ and -, at most 63)", db)
		return c
	case db == "template0" || db == "template1" || (db == "postgres" && !c.Admin()):
		c.Problem = fmt.Sprintf("database %q cannot be handed to a client", db)
		return c
	}
	c.Admit = true
	for _, r := range c.Request.Roles {
		if !identRE.MatchString(r) {
			c.Problem = fmt.Sprintf("role %q is not a valid identifier", r)
			return c
		}
		if why := reservedRole(r); why != "" {
			c.Problem = fmt.Sprintf("role %q %s", r, why)
			return c
		}
	}
	for _, e := range c.Request.Extensions {
		name, schema := pgsql.Extension(e)
		if !extNameRE.MatchString(name) || strings.Count(e, "(") > 1 || (strings.Contains(e, "(") && !strings.HasSuffix(e, ")")) {
			c.Problem = fmt.Sprintf("extension %q is not a valid extension name", e)
			return c
		}
		if strings.Contains(e, "(") && (!identRE.MatchString(schema) || strings.HasPrefix(schema, "pg_")) {
			c.Problem = fmt.Sprintf("extension %q: schema %q is not a valid schema name", e, schema)
			return c
		}
	}
	return c
}

// UnitSubnets is where a client unit connects from: its egress-subnets, else its
// ingress-address, else its private-address, as single hosts.
func UnitSubnets(bag map[string]string) []netip.Prefix {
	if ps := pgsql.ParsePrefixes(bag["egress-subnets"]); len(ps) > 0 {
		return ps
	}
	for _, k := range []string{"ingress-address", "private-address"} {
		if a, err := netip.ParseAddr(strings.TrimSpace(bag[k])); err == nil {
			return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		}
	}
	return nil
}

// HBARules admit the client's subnets to its own database as its own user (db-admin
// clients: every database). A refused database admits nobody.
func (c Client) HBARules() []hba.Rule {
	if !c.Admit {
		return nil
	}
	var rules []hba.Rule
	for _, p := range c.Subnets {
		r := hba.Rule{Type: "host", Database: c.Request.Database, User: c.User, Address: p.String(), Method: "scram-sha-256"}
		if c.Admin() {
			r.Database = hba.All
		}
		rules = append(rules, r)
	}
	return rules
}

// ClientRules are the pg_hba rules of every client, in a stable order.
func ClientRules(clients []Client) []hba.Rule {
	sorted := append([]Client(nil), clients...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var rules []hba.Rule
	for _, c := range sorted {
		rules = append(rules, c.HBARules()...)
	}
	return rules
}

// Server is what one server unit knows when it publishes to a client.
type Server struct {
	State    string // pgsql.StateMaster, StateStandalone or StateStandby
	Host     string // this unit's ingress address on the relation
	Port     string
	Version  string // major
	Master   string // the primary's address ("" while there is none)
	Standbys []string
	SSLMode  string // what connection strings carry (tls.go); "" for libpq's default
}

// Publish is the data this unit sets on the client relation once the client's access
// is granted and its user, database, roles and extensions exist on this unit.
func Publish(c Client, s Server, password string) map[string]string {
	p := pgsql.Published{
		Database: c.Request.Database, User: c.User, Password: password, SchemaUser: !c.Admin(),
		Roles: c.Request.Roles, Extensions: c.Request.Extensions, Version: s.Version, State: s.State,
		Host: s.Host, Port: s.Port, AllowedUnits: c.Units, AllowedSubnets: c.Subnets,
	}
	if s.Master != "" {
		p.Master = withSSLMode(pgsql.Conn(s.Master, s.Port, c.Request.Database, c.User, password), s.SSLMode)
	}
	for _, h := range s.Standbys {
		p.Standbys = append(p.Standbys, withSSLMode(pgsql.Conn(h, s.Port, c.Request.Database, c.User, password), s.SSLMode))
	}
	return p.Data()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func uniquePrefixes(ps []netip.Prefix) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, p := range ps {
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Token names a client request as provisioned: the relation and a digest of what was
// created for it. The primary publishes the tokens of what it created to its peers (with
// its address on that relation, Provisioned), so that standbys publish the same
// credentials once, and only once, they exist, pointing clients at the primary's
// address on the relation rather than its peer address.
func (c Client) Token() string {
	h := sha256.Sum256([]byte(strings.Join([]string{c.Endpoint, c.User, c.Request.Database,
		strings.Join(c.Request.Roles, ","), strings.Join(c.Request.Extensions, ",")}, "\x00")))
	return c.ID + "=" + hex.EncodeToString(h[:6])
}

// Provisioned is the token the primary reports, with where clients reach it.
func (c Client) Provisioned(host string) string { return c.Token() + "@" + host }

// Tokens joins tokens for the peer relation, sorted.
func Tokens(tokens []string) string {
	sorted := append([]string(nil), tokens...)
	sort.Strings(sorted)
	return strings.Join(sorted, " ")
}

// ProvisionedAt says whether the primary's report holds the client's current request,
// and the primary's address on the relation.
func ProvisionedAt(list string, c Client) (host string, ok bool) {
	want := c.Token()
	for _, t := range strings.Fields(list) {
		tok, h, _ := strings.Cut(t, "@")
		if tok == want {
			return h, true
		}
	}
	return "", false
}

// For is the view for one relation: this unit's peer address (as it appears in Master
// or Standbys) replaced by its ingress address on that relation.
func (s Server) For(peerAddress, host string) Server {
	out := s
	out.Host = host
	if out.Master == peerAddress {
		out.Master = host
	}
	out.Standbys = nil
	for _, h := range s.Standbys {
		if h == peerAddress {
			h = host
		}
		out.Standbys = append(out.Standbys, h)
	}
	return out
}
