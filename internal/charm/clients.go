package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgcharm/postgresql/internal/charm/plan"
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

func observeClients(f *plan.Observed) error {
	c := plan.ClientsFacts{Hosts: map[string]string{}, Self: map[string]map[string]string{}}
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

func observeClient(f *plan.Observed, ep, id string) (plan.ClientRelation, error) {
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

// observeClientPasswords reads each client application's credentials from its secret.
func observeClientPasswords(o *plan.Observed) error {
	ids := plan.ParseSecretList(o.AppBag.ClientSecrets)
	o.Clients.Passwords = map[string]map[string]string{}
	for _, c := range o.Clients.Clients {
		id := ids[c.App]
		if _, done := o.Clients.Passwords[c.App]; done || id == "" {
			continue
		}
		content, err := readOwnSecret(id)
		if err != nil {
			return fmt.Errorf("read the secret of client %s: %w", c.App, err)
		}
		o.Clients.Passwords[c.App] = passwordsByEndpoint(content)
	}
	return nil
}

// observeClientServer reads what the local server holds for the client requests, when it
// serves them (the primary, or a standby): the extensions it has, whose each requested
// database is, what each requested role reaches, and on a standby whether what the primary
// provisioned has arrived.
func (r *applying) observeClientServer(isPrimary bool) error {
	f := &r.Clients
	f.Server = nil
	l := r.local
	if len(f.Clients) == 0 || l == nil || l.Cluster == nil || !l.Running || (!isPrimary && !l.Standby) {
		return nil
	}
	ctx := r.ctx
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	avail, err := db.AvailableExtensions(ctx)
	if err != nil {
		return err
	}
	s := &plan.ClientServer{Extensions: map[string]bool{}, Roles: map[string]plan.RoleFacts{}, Replicated: map[string]bool{}}
	for name := range avail {
		s.Extensions[name] = true
	}
	if s.Claims = r.Claims; s.Claims == nil {
		return fmt.Errorf("decide the client databases: the server did not answer")
	}
	primary := r.AppBag.Primary
	rep, _ := plan.ParseUnitReport(primary, r.Peers[primary])
	for _, c := range f.Clients {
		if c.Problem != "" || s.Claims[c.ID].Problem != "" {
			continue
		}
		for _, role := range c.Request.Roles {
			if _, done := s.Roles[role]; done || c.Admin() {
				continue
			}
			if s.Roles[role], err = roleFacts(ctx, db, role); err != nil {
				return err
			}
		}
		if _, provisioned := plan.ProvisionedAt(rep.Clients, c); !isPrimary && primary != "" && provisioned {
			if s.Replicated[c.ID], err = replicated(ctx, l.Cluster, db, c); err != nil {
				return fmt.Errorf("%s: %w", c.Describe(), err)
			}
		}
	}
	f.Server = s
	return nil
}

// clientRelations does what plan.Decide decided for the client relations: the leader
// creates the missing credentials (and lists them in the peer application bag, which wakes
// the others), the primary provisions, and every unit publishes each client's access once
// the pg_hba rules admitting it are in force. A request the server refuses while it is
// provisioned blocks the unit naming the relation; other clients carry on.
func (r *applying) clientRelations(p plan.ClientsPlan) error {
	if len(p.CreateSecrets) > 0 {
		if err := r.createClientSecrets(p.CreateSecrets); err != nil {
			return err
		}
		p = r.decide().Clients
	}
	for _, msg := range p.Refused {
		goops.LogErrorf("refused %s", msg)
	}
	tokens := p.Tokens
	defer func() { r.report = plan.Tokens(tokens) }()
	if r.Clients.Server == nil {
		return nil
	}
	ctx, l := r.ctx, r.local
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	// Access first: the rules with every current client must be in force before any
	// credentials go out (the original's lp:1577544). configure applied them already;
	// this is a no-op then, and the guarantee when it could not.
	if _, err := db.ApplyHBA(ctx, r.decide().HBA); err != nil {
		var refused *postgres.HBARejectedError
		if errors.As(err, &refused) {
			tokens = nil
			return nil
		}
		return err
	}
	for _, a := range p.Actions {
		c := a.Client
		if a.Provision {
			if err := provision(ctx, l.Cluster, db, c, a.Password); err != nil {
				if msg, ok := requestRefused(err); ok {
					// The server refused what the client asked for (an extension that cannot
					// be created, say): that relation blocks, the others carry on.
					goops.LogErrorf("%s refused: %s", c.Describe(), msg)
					r.found.refused = append(r.found.refused, c.ID+": "+msg)
					continue
				}
				return fmt.Errorf("%s: %w", c.Describe(), err)
			}
		}
		if a.Token != "" {
			tokens = append(tokens, a.Token)
		}
		if err := r.publishClient(c, a.Bag); err != nil {
			return err
		}
	}
	return nil
}

// createClientSecrets creates the credentials of client applications (leader).
func (r *applying) createClientSecrets(apps []string) error {
	ids := plan.ParseSecretList(r.AppBag.ClientSecrets)
	for _, app := range apps {
		content := map[string]string{}
		for _, k := range secretKeys {
			pw, err := newPassword()
			if err != nil {
				return err
			}
			content[k] = pw
		}
		id, err := secretAdd(clientSecretPrefix+app, content)
		if err != nil {
			return fmt.Errorf("create the secret of client %s: %w", app, err)
		}
		goops.LogInfof("created credentials for client application %s", app)
		ids[app], r.Clients.Passwords[app] = id, passwordsByEndpoint(content)
	}
	app := r.AppBag
	app.ClientSecrets = plan.FormatSecretList(ids)
	return r.writeApp(app)
}

func (r *applying) publishClient(c plan.Client, want map[string]string) error {
	if equalBags(r.Clients.Self[c.ID], want) {
		return nil
	}
	if err := relationSet(c.ID, false, want); err != nil {
		return fmt.Errorf("publish to %s: %w", c.Describe(), err)
	}
	goops.LogInfof("%s: published %s for %s (%s)", c.Describe(), want["state"], c.User, want["database"])
	r.Clients.Self[c.ID] = want
	return nil
}

func passwordsByEndpoint(content map[string]string) map[string]string {
	out := map[string]string{}
	for ep, k := range secretKeys {
		out[ep] = content[k]
	}
	return out
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

// replicated says whether the user, database, roles and extensions the primary
// provisioned for a client have arrived here (a replica a moment behind gets a few seconds).
func replicated(ctx context.Context, cluster *postgres.Cluster, db *postgres.DB, c plan.Client) (bool, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := present(ctx, cluster, db, c)
		if err != nil || ok {
			return ok, err
		}
		if time.Now().After(deadline) {
			goops.LogWarningf("%s: not replicated here yet; publishing later", c.Describe())
			return false, nil
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
