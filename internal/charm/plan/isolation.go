package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/internal/pgsql"
)

// Client isolation, shared by the pgsql relations (db, db-admin) and the database
// relation: what relation data may open in pg_hba, which database a client may have,
// and which roles it may be granted.

// CatchAll says why a subnet from relation data is refused: a client unit writes its own
// egress-subnets, so one that claims (nearly) the whole address space would have pg_hba
// admit its user from anywhere. Only admin_addresses and extra_pg_auth open that wide.
// IPv4-mapped IPv6 prefixes count as the IPv4 they map (PostgreSQL matches IPv4 clients
// against them).
func CatchAll(p netip.Prefix) string {
	addr, bits := p.Addr(), p.Bits()
	if addr.Is4In6() && bits >= 96 {
		addr, bits = addr.Unmap(), bits-96
	}
	switch {
	case addr.Is4() && bits < 8, addr.Is6() && bits < 16:
		return fmt.Sprintf("egress subnet %s covers the whole network; a client may not open pg_hba that wide "+
			"(admin_addresses or extra_pg_auth can)", p)
	}
	return ""
}

// FilterSubnets drops the catch-all subnets and says why (the first one).
func FilterSubnets(ps []netip.Prefix) (kept []netip.Prefix, problem string) {
	for _, p := range ps {
		if why := CatchAll(p); why != "" {
			if problem == "" {
				problem = why
			}
			continue
		}
		kept = append(kept, p)
	}
	return kept, problem
}

// ClientUnitSubnets is where a client unit may connect from (UnitSubnets) without the
// catch-all subnets; a unit that claims only those keeps its own address (its
// ingress-address), so the refusal takes nothing away from it.
func ClientUnitSubnets(bag map[string]string) (ps []netip.Prefix, problem string) {
	ps, problem = FilterSubnets(UnitSubnets(bag))
	if len(ps) == 0 && problem != "" {
		rest := map[string]string{"ingress-address": bag["ingress-address"], "private-address": bag["private-address"]}
		ps, _ = FilterSubnets(UnitSubnets(rest))
	}
	return ps, problem
}

// Claim is a client relation's request for a database.
type Claim struct {
	ID       string // relation id, "db:5" or "database:7"
	App      string // the remote application (SAAS name across models)
	Database string
	// Admin clients (db-admin) are superusers and reach every database anyway: they
	// are never refused a database, and never take one another client claims.
	Admin bool
}

// ClientUsers are the roles the charm creates for a client application, on any of its
// client relations: what it owns is its own.
func ClientUsers(app string) []string {
	return []string{pgsql.UserName(pgsql.EndpointDB, app), pgsql.UserName(pgsql.EndpointDBAdmin, app), pgclient.UserName(app)}
}

// IsClientUser says whether a role name is in the charm's client namespace.
func IsClientUser(role string) bool {
	return strings.HasPrefix(role, "juju_") || strings.HasPrefix(role, "jujuadmin_")
}

// ClaimDecision is what a claim gets: a refusal, or whether the database may be
// created for it when missing.
type ClaimDecision struct {
	Problem string
	Create  bool
	Exists  bool // the database exists already
}

// DecideClaims gives each client a database only if it is its own or one no other
// client application holds. owners maps the existing requested databases to their
// owners. An existing database owned by another application's client user is that
// application's, related or not (its data outlives its relation). Otherwise, among
// the current relations of different applications asking for the same database, the
// oldest relation (lowest id) has it; the database "postgres" and templates are
// never a client's (DecideClient refuses them for non-admin clients).
func DecideClaims(claims []Claim, owners map[string]string) map[string]ClaimDecision {
	out := map[string]ClaimDecision{}
	first := map[string]Claim{} // database: the oldest non-admin claim
	sorted := append([]Claim(nil), claims...)
	sort.Slice(sorted, func(i, j int) bool { return relLess(sorted[i].ID, sorted[j].ID) })
	for _, c := range sorted {
		if _, ok := first[c.Database]; !ok && !c.Admin {
			first[c.Database] = c
		}
	}
	for _, c := range sorted {
		owner, exists := owners[c.Database]
		mine := false
		for _, u := range ClientUsers(c.App) {
			mine = mine || owner == u
		}
		d := ClaimDecision{Exists: exists}
		switch {
		case c.Admin:
			// A superuser anyway; it creates the database only when nobody else asks.
			f, asked := first[c.Database]
			d.Create = !exists && (!asked || f.App == c.App)
		case exists && mine:
		case exists && IsClientUser(owner):
			d.Problem = fmt.Sprintf("database %q belongs to another client application (owner %s)", c.Database, owner)
		case first[c.Database].App != c.App:
			f := first[c.Database]
			d.Problem = fmt.Sprintf("database %q is held by %s on relation %s", c.Database, f.App, f.ID)
		default:
			d.Create = !exists
		}
		out[c.ID] = d
	}
	return out
}

// relLess orders relation ids by number (unique in a model across endpoints).
func relLess(a, b string) bool {
	na, nb := relNum(a), relNum(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

func relNum(id string) int {
	_, n, _ := strings.Cut(id, ":")
	v, err := strconv.Atoi(n)
	if err != nil {
		return 1 << 30
	}
	return v
}

// RoleFacts is what the primary knows of a role a client asks to be granted.
type RoleFacts struct {
	Name   string
	Exists bool
	// Powers are the attributes that reach past a database (LOGIN, SUPERUSER,
	// CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS) of the role itself or of any role
	// it is a member of, directly or through others.
	Powers []string
	// Reaches are the roles it is a member of (transitively) or may grant (ADMIN
	// OPTION) that belong to PostgreSQL or the charm: pg_* roles, postgres, the charm's
	// own and its clients' users.
	Reaches []string
}

// CheckRole says why a client may not be granted an existing role: membership hands
// over everything the role can do, and everything the roles it belongs to can do.
// A role that does not exist yet passes (the caller decides whether it may be created).
func CheckRole(f RoleFacts) string {
	if !f.Exists {
		return ""
	}
	if len(f.Reaches) > 0 {
		return fmt.Sprintf("role %q is a member of %s, which a client may not be granted", f.Name, strings.Join(f.Reaches, ", "))
	}
	if len(f.Powers) > 0 {
		return fmt.Sprintf("role %q has %s powers (itself or through its memberships) and cannot be granted", f.Name,
			strings.Join(f.Powers, ", "))
	}
	return ""
}
