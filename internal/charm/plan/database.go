package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/internal/roles"
)

// The database relation (postgresql_client interface): what each client asked for, who
// may connect from where, and what the leader answers. Pure; internal/charm observes
// and acts.

// DatabaseRelation is one database relation as observed in the hook.
type DatabaseRelation struct {
	ID     string                       // "database:7"
	App    string                       // the remote application (the SAAS name across models)
	AppBag map[string]string            // the client application's bag: the request
	Units  map[string]map[string]string // the client units' bags: where they connect from
}

// DatabaseClient is what the charm makes of one database relation.
type DatabaseClient struct {
	ID, App, User string
	Request       pgclient.Request
	// Roles are the extra-user-roles naming roles, granted as memberships; CreateDB and
	// Superuser the ones naming role attributes.
	Roles               []string
	CreateDB, Superuser bool
	Units               []string
	Subnets             []netip.Prefix
	// Problem refuses the request: nothing is created or published for it.
	Problem string
	// Admit is whether pg_hba admits the client (its database and user are valid).
	Admit bool
}

// Describe names the relation for status messages and logs.
func (c DatabaseClient) Describe() string { return fmt.Sprintf("relation %s (%s)", c.ID, c.App) }

// DatabaseOptions are the operator's choices that widen what clients may ask for.
type DatabaseOptions struct {
	AllowSuperuser bool // extra-user-roles=superuser
}

// DecideDatabase reads and checks one relation's request. A client that has not named
// its database yet is neither admitted nor refused.
func DecideDatabase(rel DatabaseRelation, o DatabaseOptions) (c DatabaseClient) {
	c = DatabaseClient{ID: rel.ID, App: rel.App, User: pgclient.UserName(rel.App)}
	var wide string
	for _, u := range sortedKeys(rel.Units) {
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
	req, err := pgclient.ParseRequest(rel.AppBag)
	c.Request = req
	if err != nil {
		c.Problem = err.Error()
		return c
	}
	db := req.Database
	switch {
	case db == "":
		wide = "" // nothing to admit yet; it says where it connects from once it asks
		return c
	case strings.HasSuffix(db, "*"):
		c.Problem = fmt.Sprintf("database %q: prefix requests are not supported; name one database", db)
		return c
	case !identRE.MatchString(db):
		c.Problem = fmt.Sprintf("database name %q is not a valid identifier (letters, digits, _ and -, at most 63)", db)
		return c
	case db == "postgres" || db == "template0" || db == "template1":
		c.Problem = fmt.Sprintf("database %q cannot be handed to a client", db)
		return c
	}
	c.Admit = true
	for _, r := range req.ExtraUserRoles {
		switch strings.ToLower(r) {
		case "superuser":
			if !o.AllowSuperuser {
				c.Problem = "extra-user-roles superuser is refused; set database_allow_superuser=true to allow it"
				return c
			}
			c.Superuser = true
			continue
		case "createdb":
			c.CreateDB = true
			continue
		case "createrole":
			c.Problem = "extra-user-roles createrole is refused: a role that creates roles can grant itself any other"
			return c
		}
		if !identRE.MatchString(r) {
			c.Problem = fmt.Sprintf("extra-user-roles: role %q is not a valid identifier", r)
			return c
		}
		if why := reservedRole(r); why != "" {
			c.Problem = fmt.Sprintf("extra-user-roles: role %q %s", r, why)
			return c
		}
		c.Roles = append(c.Roles, r)
	}
	sort.Strings(c.Roles)
	return c
}

// DecideDatabases decides every relation; relations of one application share its user,
// so a later relation asking for other roles than an earlier one is refused.
func DecideDatabases(rels []DatabaseRelation, o DatabaseOptions) []DatabaseClient {
	var out []DatabaseClient
	for _, rel := range rels {
		out = append(out, DecideDatabase(rel, o))
	}
	sort.Slice(out, func(i, j int) bool { return relLess(out[i].ID, out[j].ID) })
	first := map[string]DatabaseClient{}
	for i, c := range out {
		if !c.Admit || c.Problem != "" {
			continue
		}
		f, ok := first[c.App]
		if !ok {
			first[c.App] = c
			continue
		}
		if f.grants() != c.grants() {
			out[i].Problem = fmt.Sprintf("extra-user-roles differ from relation %s of the same application (one user per application)", f.ID)
		}
	}
	return out
}

func (c DatabaseClient) grants() string {
	return fmt.Sprintf("%s|%v|%v", strings.Join(c.Roles, ","), c.CreateDB, c.Superuser)
}

// Role is the user the client gets: never a superuser unless asked and allowed.
func (c DatabaseClient) Role(password string) roles.Spec {
	return roles.Spec{Name: c.User, Login: true, Superuser: c.Superuser, CreateDB: c.CreateDB, Password: password}
}

// HBARules admit the client's subnets to its database as its user. Nothing else opens
// pg_hba: external-node-connectivity is not a reason to.
func (c DatabaseClient) HBARules() []hba.Rule {
	if !c.Admit {
		return nil
	}
	var rules []hba.Rule
	for _, p := range c.Subnets {
		rules = append(rules, hba.Rule{Type: "host", Database: c.Request.Database, User: c.User, Address: p.String(), Method: "scram-sha-256"})
	}
	return rules
}

// DatabaseRules are the pg_hba rules of every database client, in a stable order.
func DatabaseRules(clients []DatabaseClient) []hba.Rule {
	sorted := append([]DatabaseClient(nil), clients...)
	sort.Slice(sorted, func(i, j int) bool { return relLess(sorted[i].ID, sorted[j].ID) })
	var rules []hba.Rule
	for _, c := range sorted {
		rules = append(rules, c.HBARules()...)
	}
	return rules
}

// Token names what the primary provisioned for the relation (see Client.Token): the
// user, its database and grants, and the client subnets its pg_hba admits. The leader
// publishes once the primary reports the token of the leader's own view, so a client
// never gets credentials that its first try would find refused: Juju runs the primary's
// relation-joined for a client unit and the leader's at the same time, and a client
// whose connection was refused gets no further hook to try again.
func (c DatabaseClient) Token() string {
	subnets := make([]string, len(c.Subnets))
	for i, p := range c.Subnets {
		subnets[i] = p.String()
	}
	h := sha256.Sum256([]byte(strings.Join([]string{pgclient.Endpoint, c.User, c.Request.Database, c.grants(),
		strings.Join(subnets, ",")}, "\x00")))
	return c.ID + "=" + hex.EncodeToString(h[:6])
}

// StandbyToken is what a standby reports for the relation: where clients reach it.
func (c DatabaseClient) StandbyToken(host string) string { return c.ID + "=standby@" + host }

// Hosts are where the units stand for one relation, from the peers' reports.
type Hosts struct {
	Primary     string // "" until the primary reports it provisioned the current request
	Standbys    []string
	Provisioned bool
}

// HostsFor reads the reports (unit: its clients tokens) of the primary and of the
// standbys for one client.
func HostsFor(c DatabaseClient, primary string, reports map[string]string, standbys []string) Hosts {
	var h Hosts
	want := c.Token()
	for _, t := range strings.Fields(reports[primary]) {
		if tok, host, _ := strings.Cut(t, "@"); tok == want {
			h.Primary, h.Provisioned = host, true
		}
	}
	prefix := c.ID + "=standby@"
	for _, u := range standbys {
		for _, t := range strings.Fields(reports[u]) {
			if host, ok := strings.CutPrefix(t, prefix); ok {
				h.Standbys = append(h.Standbys, host)
			}
		}
	}
	sort.Strings(h.Standbys)
	return h
}

// Offer is what the leader answers: the primary in endpoints, the standbys in
// read-only-endpoints (the primary while there are none, so that reads always have a
// place), and URIs naming every unit, which libpq tries in turn for a read-write
// (uris) or preferably standby (read-only-uris) session: they stay valid across
// switchovers and failovers, so the secret's content changes only when units come or go.
func (c DatabaseClient) Offer(h Hosts, port, version, password string) pgclient.Offer {
	ro := h.Standbys
	if len(ro) == 0 {
		ro = []string{h.Primary}
	}
	all := pgclient.Endpoints(append([]string{h.Primary}, h.Standbys...), port)
	return pgclient.Offer{
		Database:          c.Request.Database,
		Endpoints:         pgclient.Endpoints([]string{h.Primary}, port),
		ReadOnlyEndpoints: pgclient.Endpoints(ro, port),
		Version:           version,
		Username:          c.User,
		Password:          password,
		URIs:              pgclient.URI(c.User, password, all, c.Request.Database, "read-write"),
		ReadOnlyURIs:      pgclient.URI(c.User, password, all, c.Request.Database, "prefer-standby"),
	}
}

// SecretContent is the user secret: what the client requested as secrets, and always
// the username and password (the primary reads the password from it).
func SecretContent(secret map[string]string, username, password string) map[string]string {
	out := map[string]string{pgclient.FieldUsername: username, pgclient.FieldPassword: password}
	for k, v := range secret {
		out[k] = v
	}
	return out
}

// StaleDatabaseUsers are the database relation users that still log in although no
// relation of their application is left: their access is revoked.
func StaleDatabaseUsers(loginRoles []string, live []DatabaseClient) []string {
	keep := map[string]bool{}
	for _, c := range live {
		keep[c.User] = true
	}
	var out []string
	for _, r := range loginRoles {
		if strings.HasPrefix(r, pgclient.UserPrefix) && !keep[r] {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// ParseSecretRefs reads "relation-id=secret-uri ..." (the peer application bag).
func ParseSecretRefs(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if id, uri, ok := strings.Cut(f, "="); ok {
			out[id] = uri
		}
	}
	return out
}

// FormatSecretRefs is the inverse of ParseSecretRefs, sorted.
func FormatSecretRefs(refs map[string]string) string {
	var fs []string
	for id, uri := range refs {
		fs = append(fs, id+"="+uri)
	}
	sort.Strings(fs)
	return strings.Join(fs, " ")
}
