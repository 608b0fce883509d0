package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgsql"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/roles"
)

// The db and db-admin relations (pgsql interface). observeClients reads every client
// relation into the facts and decides (purely, in plan) what each client asked for and
// from where it connects; clientHBARules admits each client on every unit; after the
// unit converged, clientRelations creates users, databases, roles and extensions on the
// primary and publishes the credentials on every unit, once access is granted.
//
// Passwords live in one application-owned Juju secret per client application, labelled
// client-<app>, created by the leader and listed (app=secret-id) in the peer application
// bag so that every unit can read it and gets a hook when it appears. They are keyed by
// the remote application's name, so a client redeployed under the same name (the SAAS
// name across models) gets the same user, password and data back.

const clientSecretPrefix = "client-"

// Keys of a client secret (Juju wants at least three characters).
var secretKeys = map[string]string{pgsql.EndpointDB: "db-password", pgsql.EndpointDBAdmin: "db-admin-password"}

// clientFacts is what the client relations hold, observed with the rest of the hook.
type clientFacts struct {
	Clients []plan.Client
	Hosts   map[string]string            // relation id: this unit's ingress address for it
	Self    map[string]map[string]string // relation id: this unit's own bag
	// Report is what this unit tells its peers: what it provisioned (primary only) and
	// where each client relation reaches it (plan.HostToken).
	Report string
}

func observeClients(f *jujuFacts) error {
	c := clientFacts{Hosts: map[string]string{}, Self: map[string]map[string]string{}}
	broken := ""
	if strings.HasSuffix(f.Hook, "-relation-broken") {
		broken = os.Getenv("JUJU_RELATION_ID")
	}
	for _, ep := range []string{pgsql.EndpointDB, pgsql.EndpointDBAdmin} {
		ids, err := goops.GetRelationIDs(ep)
		if err != nil {
			return fmt.Errorf("observe %s relations: %w", ep, err)
		}
		for _, id := range ids {
			if id == broken {
				continue
			}
			rel, err := observeClient(f, ep, id)
			if err != nil {
				return fmt.Errorf("observe relation %s: %w", id, err)
			}
			if rel.App == "" {
				continue
			}
			c.Clients = append(c.Clients, plan.DecideClient(rel))
			if c.Self[id], err = goops.GetUnitRelationData(id, f.Unit); err != nil {
				return fmt.Errorf("observe own data on %s: %w", id, err)
			}
			if c.Hosts[id], err = ingressAddress(ep, id); err != nil {
				return fmt.Errorf("observe network of %s: %w", id, err)
			}
		}
	}
	sort.Slice(c.Clients, func(i, j int) bool { return c.Clients[i].ID < c.Clients[j].ID })
	f.Clients = c
	return nil
}

func observeClient(f *jujuFacts, ep, id string) (plan.ClientRelation, error) {
	rel := plan.ClientRelation{Endpoint: ep, ID: id, Units: map[string]map[string]string{}}
	units, err := goops.ListRelationUnits(id)
	if err != nil {
		return rel, err
	}
	if rel.App, err = goops.GetRelationApp(id); err != nil || rel.App == "" {
		rel.App = ""
		if len(units) > 0 {
			rel.App, _, _ = strings.Cut(units[0], "/")
		}
	}
	for _, u := range units {
		if u == f.Departing {
			continue
		}
		if rel.Units[u], err = goops.GetUnitRelationData(id, u); err != nil {
			return rel, fmt.Errorf("unit %s: %w", u, err)
		}
	}
	if rel.App != "" {
		// Clients of the original interface set unit data; an application bag is read
		// too, and a missing one is no error.
		if bag, err := goops.GetAppRelationData(id, rel.App); err == nil {
			rel.AppBag = bag
		}
	}
	return rel, nil
}

// ingressAddress is where clients on this relation reach this unit (network-get for the
// relation, which differs from the private address across models and spaces).
func ingressAddress(endpoint, id string) (string, error) {
	out, err := hookTool("network-get", endpoint, "-r", id, "--format=json")
	if err != nil {
		return "", err
	}
	var nw goops.Network
	if err := json.Unmarshal(out, &nw); err != nil {
		return "", fmt.Errorf("network-get %s: %w", endpoint, err)
	}
	if len(nw.IngressAddresses) == 0 {
		return "", fmt.Errorf("network-get %s: no ingress address", endpoint)
	}
	return nw.IngressAddresses[0], nil
}

func (r *hookRun) clientHBARules() []hba.Rule {
	return r.claimedRules() // isolation.go: only clients whose database is theirs
}

// clientRelations provisions (primary) and publishes (every unit) each client's access.
// A refused request blocks the unit naming the relation; other clients carry on.
func (r *hookRun) clientRelations() error {
	clients := r.j.Clients.Clients
	if len(clients) == 0 {
		return nil
	}
	passwords, err := r.clientPasswords(clients)
	if err != nil {
		return err
	}
	refuse := func(c plan.Client, msg string) {
		goops.LogErrorf("%s refused: %s", c.Describe(), msg)
		r.why.Refused = append(r.why.Refused, c.ID+": "+msg)
	}
	for _, c := range clients {
		if c.Problem != "" {
			refuse(c, c.Problem)
		}
	}
	l := r.local
	if l == nil || l.Cluster == nil || !l.Running {
		return nil
	}
	primary := r.primary
	if !primary && !l.Standby {
		return nil
	}
	ctx := r.ctx
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	// Access first: the rules with every current client must be in force before any
	// credentials go out (the original's lp:1577544). configure applied them already;
	// this is a no-op then, and the guarantee when it could not.
	rules, _, err := r.hbaRules()
	if err != nil {
		return nil // configure has blocked the unit naming the option
	}
	if _, err := db.ApplyHBA(ctx, rules); err != nil {
		var refused *postgres.HBARejectedError
		if errors.As(err, &refused) {
			return nil
		}
		return err
	}
	avail, err := db.AvailableExtensions(ctx)
	if err != nil {
		return err
	}
	claims := r.claims()
	if claims == nil {
		return fmt.Errorf("decide the client databases: the server did not answer")
	}
	server := r.serverView()
	var tokens []string
	for _, c := range clients {
		if h := r.j.Clients.Hosts[c.ID]; h != "" {
			tokens = append(tokens, c.HostToken(h))
		}
		if c.Problem != "" {
			continue
		}
		if msg := claims[c.ID].Problem; msg != "" {
			refuse(c, msg)
			continue
		}
		if c.Admin() && !claims[c.ID].Create && !claims[c.ID].Exists {
			goops.LogInfof("%s: waiting for the client that asked for %s first to create it", c.Describe(), c.Request.Database)
			continue
		}
		if msg, err := checkRequest(ctx, db, c, avail); err != nil {
			return err
		} else if msg != "" {
			refuse(c, msg)
			continue
		}
		pw := passwords[c.App][c.Endpoint]
		if pw == "" {
			goops.LogInfof("%s: waiting for the leader to create its credentials", c.Describe())
			continue
		}
		if primary {
			if err := provision(ctx, l.Cluster, db, c, pw); err != nil {
				if msg, ok := requestRefused(err); ok {
					// The server refused what the client asked for (an extension that cannot
					// be created, say): that relation blocks, the others carry on.
					refuse(c, msg)
					continue
				}
				return fmt.Errorf("%s: %w", c.Describe(), err)
			}
		}
		relHost := r.j.Clients.Hosts[c.ID]
		s := server.For(r.j.Address, relHost).Across(relHost != r.j.Address, r.peerHosts(c.ID))
		if primary {
			tokens = append(tokens, c.Provisioned(s.Host))
		} else {
			host, ok, err := r.replicated(ctx, db, c)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Describe(), err)
			}
			if !ok {
				continue
			}
			if host != "" && s.Master != "" {
				s.Master = host
			}
		}
		if err := r.publishClient(c, plan.Publish(c, s, pw)); err != nil {
			return err
		}
	}
	r.j.Clients.Report = plan.Tokens(tokens)
	return nil
}

func (r *hookRun) publishClient(c plan.Client, want map[string]string) error {
	if equalBags(r.j.Clients.Self[c.ID], want) {
		return nil
	}
	if err := relationSet(c.ID, false, want); err != nil {
		return fmt.Errorf("publish to %s: %w", c.Describe(), err)
	}
	goops.LogInfof("%s: published %s for %s (%s)", c.Describe(), want["state"], c.User, want["database"])
	r.j.Clients.Self[c.ID] = want
	return nil
}

// peerHosts maps each peer's peer address to its reported address on client relation id
// (plan.HostToken).
func (r *hookRun) peerHosts(id string) map[string]string {
	hosts := map[string]string{}
	for name, data := range r.j.Peers {
		rep, _ := plan.ParseUnitReport(name, data)
		if h := plan.ReportedHost(rep.Clients, id); rep.Address != "" && h != "" {
			hosts[rep.Address] = h
		}
	}
	return hosts
}

// serverView is what this unit tells every client about the application: its own
// state, and where the primary and the standbys are (from their peer reports).
func (r *hookRun) serverView() plan.Server {
	s := plan.Server{Port: strconv.Itoa(pgPort), Version: r.local.Version, SSLMode: plan.SSLMode(r.j.Config.TLSRequired)}
	switch {
	case r.local.Standby:
		s.State = pgsql.StateStandby
		s.Standbys = append(s.Standbys, r.j.Address)
	case len(r.j.Peers) == 0:
		s.State = pgsql.StateStandalone
		s.Master = r.j.Address
	default:
		s.State = pgsql.StateMaster
		s.Master = r.j.Address
	}
	for name, data := range r.j.Peers {
		rep, _ := plan.ParseUnitReport(name, data)
		if rep.Address == "" {
			continue
		}
		switch {
		case rep.Role == plan.RolePrimary && name == r.app.Primary:
			s.Master = rep.Address
		case rep.Role == plan.RoleStandby:
			s.Standbys = append(s.Standbys, rep.Address)
		}
	}
	sort.Strings(s.Standbys)
	return s
}

// clientPasswords reads each client application's secret; the leader creates the
// missing ones (and lists them in the peer application bag, which wakes the others).
func (r *hookRun) clientPasswords(clients []plan.Client) (map[string]map[string]string, error) {
	ids := parseSecretList(r.app.ClientSecrets)
	out := map[string]map[string]string{}
	changed := false
	for _, c := range clients {
		if _, done := out[c.App]; done {
			continue
		}
		if id := ids[c.App]; id != "" {
			content, err := readOwnSecret(id)
			if err != nil {
				return nil, fmt.Errorf("read the secret of client %s: %w", c.App, err)
			}
			out[c.App] = passwordsByEndpoint(content)
			continue
		}
		if !r.j.Leader || r.j.PeerID == "" {
			continue
		}
		content := map[string]string{}
		for _, k := range secretKeys {
			pw, err := newPassword()
			if err != nil {
				return nil, err
			}
			content[k] = pw
		}
		id, err := secretAdd(clientSecretPrefix+c.App, content)
		if err != nil {
			return nil, fmt.Errorf("create the secret of client %s: %w", c.App, err)
		}
		goops.LogInfof("created credentials for client application %s", c.App)
		ids[c.App], out[c.App], changed = id, passwordsByEndpoint(content), true
	}
	if changed {
		r.app.ClientSecrets = formatSecretList(ids)
		if err := r.writeApp(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func passwordsByEndpoint(content map[string]string) map[string]string {
	out := map[string]string{}
	for ep, k := range secretKeys {
		out[ep] = content[k]
	}
	return out
}

func parseSecretList(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if app, id, ok := strings.Cut(f, "="); ok {
			out[app] = id
		}
	}
	return out
}

func formatSecretList(ids map[string]string) string {
	var fs []string
	for app, id := range ids {
		fs = append(fs, app+"="+id)
	}
	sort.Strings(fs)
	return strings.Join(fs, " ")
}

// checkRequest refuses what the server cannot or must not do for a client: extensions
// that are not installed, and roles to grant that already exist with powers of their own
// (logging in, superuser, ...) or are members of roles that have them or of PostgreSQL's
// predefined roles, directly or through others, which would hand the client someone
// else's access (isolation.go).
func checkRequest(ctx context.Context, db *postgres.DB, c plan.Client, avail map[string]string) (string, error) {
	var missing []string
	for _, e := range c.Request.Extensions {
		if name, _ := pgsql.Extension(e); !hasKey(avail, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("extension %s not installed on this server", strings.Join(missing, ", ")), nil
	}
	if c.Admin() {
		return "", nil // a superuser has every role's powers anyway
	}
	return checkRoles(ctx, db, c.Request.Roles)
}

// provision creates what the client asked for, on the primary. Everything was checked
// before, so nothing stops half-way for a bad request; each step is idempotent.
func provision(ctx context.Context, cluster *postgres.Cluster, db *postgres.DB, c plan.Client, password string) error {
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: c.User, Login: true, Superuser: c.Admin(), Password: password}); err != nil {
		return err
	}
	if _, err := db.EnsureDatabase(ctx, c.Request.Database, c.User); err != nil {
		return err
	}
	if !c.Admin() {
		if err := securePublicSchema(ctx, cluster, c.Request.Database, c.User); err != nil {
			return err
		}
	}
	// GRANT rewrites the catalog even when nothing changes; only grant what is missing.
	granted, err := db.HasDatabasePrivileges(ctx, c.User, c.Request.Database)
	if err != nil {
		return err
	}
	if !granted {
		if err := db.GrantDatabase(ctx, c.Request.Database, c.User, []string{"ALL"}); err != nil {
			return err
		}
	}
	for _, role := range c.Request.Roles {
		exists, err := db.RoleExists(ctx, role)
		if err != nil {
			return err
		}
		if !exists {
			// NOLOGIN INHERIT, like the original: a group the client's user belongs to.
			if _, err := db.EnsureRole(ctx, roles.Spec{Name: role}); err != nil {
				return err
			}
		}
		if _, err := db.GrantRole(ctx, role, c.User); err != nil {
			return err
		}
	}
	if len(c.Request.Extensions) == 0 {
		return nil
	}
	target, err := postgres.Connect(ctx, cluster, c.Request.Database)
	if err != nil {
		return err
	}
	defer target.Close(ctx)
	bySchema := map[string][]string{}
	for _, e := range c.Request.Extensions {
		name, schema := pgsql.Extension(e)
		bySchema[schema] = append(bySchema[schema], name)
	}
	for _, schema := range sortedStrings(bySchema) {
		if schema != "" {
			// A schema of its own for the extension, usable by everyone as the original did.
			if err := target.EnsureSchema(ctx, schema); err != nil {
				return err
			}
		}
		if err := target.EnsureExtensions(ctx, bySchema[schema], schema); err != nil {
			return err
		}
	}
	return nil
}

// requestRefused tells an error the server raised about the request itself (SQLSTATE
// classes other than connection, resources, operator intervention, system and internal
// errors) from a genuine fault, and words it for the status.
func requestRefused(err error) (string, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "", false
	}
	switch pe.Code[:2] {
	case "08", "53", "57", "58", "XX", "40":
		return "", false
	}
	return "the server refused the request: " + pe.Message, true
}

// replicated says whether a standby may publish a client: the primary reports it
// provisioned the same request, and the user, database, roles and extensions have
// arrived here (a replica a moment behind gets a few seconds). It returns the primary's
// address on the relation.
func (r *hookRun) replicated(ctx context.Context, db *postgres.DB, c plan.Client) (string, bool, error) {
	p := r.app.Primary
	rep, _ := plan.ParseUnitReport(p, r.j.Peers[p])
	host, provisioned := plan.ProvisionedAt(rep.Clients, c)
	if p == "" || !provisioned {
		return "", false, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := present(ctx, r.local.Cluster, db, c)
		if err != nil || ok {
			return host, ok, err
		}
		if time.Now().After(deadline) {
			goops.LogWarningf("%s: not replicated here yet; publishing later", c.Describe())
			return "", false, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func present(ctx context.Context, cluster *postgres.Cluster, db *postgres.DB, c plan.Client) (bool, error) {
	ok, err := db.HasClient(ctx, c.User, c.Request.Database, c.Request.Roles)
	if err != nil || !ok || len(c.Request.Extensions) == 0 {
		return ok, err
	}
	target, err := postgres.Connect(ctx, cluster, c.Request.Database)
	if err != nil {
		return false, err
	}
	defer target.Close(ctx)
	var names []string
	for _, e := range c.Request.Extensions {
		n, _ := pgsql.Extension(e)
		names = append(names, n)
	}
	return target.HasExtensions(ctx, names)
}

func sortedStrings[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
