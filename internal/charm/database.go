package charm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/roles"
)

// The database relation (postgresql_client interface, as Canonical's data_interfaces
// library speaks it). observeDatabase reads every relation and decides (in plan) what
// each client asked for and from where it connects; pg_hba admits each client from its
// egress subnets on every unit (clientHBARules). After the unit converged,
// databaseRelations:
//   - the leader keeps one application-owned secret per relation (username, password
//     and the URIs the client asked for as secrets), listed in the peer application
//     bag (relation id=secret URI) so that every unit can read the password;
//   - the primary creates the client application's user (juju_database_<app>, never a
//     superuser unless asked and allowed), with exactly the extra-user-roles asked for,
//     and its database, and reports that it did (a token with its address on the
//     relation) to its peers; standbys report their addresses;
//   - the leader answers in the relation's application bag once the primary reported
//     the current request: database, endpoints (the primary), read-only-endpoints (the
//     standbys), version and secret-user, granting the secret to the relation. A
//     changed primary changes endpoints; the secret's content stays.
// When a relation is gone, the leader removes its secret and the primary disables the
// user unless the application has another database relation; the database is kept.

// databaseFacts is what the database relations hold, observed with the rest of the hook.
type databaseFacts struct {
	Clients []plan.DatabaseClient
	Hosts   map[string]string            // relation id: this unit's ingress address on it
	Own     map[string]map[string]string // relation id: our application bag (leader only)
	Report  []string                     // tokens this unit reports to its peers
	// Claims are the decisions on every client's database (isolation.go), once read.
	Claims map[string]plan.ClaimDecision
}

func observeDatabase(f *jujuFacts) error {
	d := databaseFacts{Hosts: map[string]string{}, Own: map[string]map[string]string{}}
	broken := ""
	if strings.HasSuffix(f.Hook, "-relation-broken") {
		broken = os.Getenv("JUJU_RELATION_ID")
	}
	ids, err := goops.GetRelationIDs(pgclient.Endpoint)
	if err != nil {
		return fmt.Errorf("observe %s relations: %w", pgclient.Endpoint, err)
	}
	var rels []plan.DatabaseRelation
	for _, id := range ids {
		if id == broken {
			continue
		}
		rel := plan.DatabaseRelation{ID: id, Units: map[string]map[string]string{}}
		units, err := goops.ListRelationUnits(id)
		if err != nil {
			return fmt.Errorf("observe relation %s: %w", id, err)
		}
		if rel.App, err = goops.GetRelationApp(id); err != nil || rel.App == "" {
			rel.App = ""
			if len(units) > 0 {
				rel.App, _, _ = strings.Cut(units[0], "/")
			}
		}
		if rel.App == "" {
			continue
		}
		for _, u := range units {
			if u == f.Departing {
				continue
			}
			if rel.Units[u], err = goops.GetUnitRelationData(id, u); err != nil {
				return fmt.Errorf("observe relation %s unit %s: %w", id, u, err)
			}
		}
		if rel.AppBag, err = goops.GetAppRelationData(id, rel.App); err != nil {
			return fmt.Errorf("observe relation %s: the request of %s: %w", id, rel.App, err)
		}
		if f.Leader {
			if d.Own[id], err = goops.GetAppRelationData(id, f.Unit); err != nil {
				return fmt.Errorf("observe relation %s: own application data: %w", id, err)
			}
		}
		if d.Hosts[id], err = ingressAddress(pgclient.Endpoint, id); err != nil {
			return fmt.Errorf("observe network of %s: %w", id, err)
		}
		rels = append(rels, rel)
	}
	d.Clients = plan.DecideDatabases(rels, plan.DatabaseOptions{AllowSuperuser: f.Config.DatabaseAllowSuperuser})
	f.Database = d
	return nil
}

// dbSecret is a relation's credentials secret.
type dbSecret struct {
	URI     string
	Content map[string]string
}

// databaseRelations provisions (primary), reports (every running unit) and answers
// (leader) each database relation. A refused request blocks the unit naming the
// relation; other clients carry on.
func (r *hookRun) databaseRelations() error {
	d := &r.j.Database
	secrets, err := r.databaseSecrets(d.Clients)
	if err != nil {
		return err
	}
	refuse := func(c plan.DatabaseClient, msg string) {
		goops.LogErrorf("%s refused: %s", c.Describe(), msg)
		r.why.Refused = append(r.why.Refused, c.ID+": "+msg)
	}
	for _, c := range d.Clients {
		if c.Problem != "" {
			refuse(c, c.Problem)
		}
	}
	if err := r.databaseServer(secrets, refuse); err != nil {
		return err
	}
	if len(d.Report) > 0 {
		r.j.Clients.Report = plan.Tokens(append(strings.Fields(r.j.Clients.Report), d.Report...))
	}
	if r.j.Leader {
		return r.databaseAnswer(secrets)
	}
	return nil
}

// databaseSecrets reads each relation's secret; the leader creates the missing ones
// (relations of one application share its user's password) and removes those of
// relations that are gone.
func (r *hookRun) databaseSecrets(clients []plan.DatabaseClient) (map[string]dbSecret, error) {
	refs := plan.ParseSecretRefs(r.app.DatabaseSecrets)
	out := map[string]dbSecret{}
	live := map[string]bool{}
	byApp := map[string]string{}
	for _, c := range clients {
		live[c.ID] = true
		uri := refs[c.ID]
		if uri == "" {
			continue
		}
		content, err := readOwnSecret(uri)
		if err != nil && strings.Contains(err.Error(), "not found") {
			// Removed meanwhile (the relation is going away, or someone removed it):
			// the leader creates a new one, the others wait for it.
			goops.LogWarningf("the credentials of %s (%s) are gone", c.Describe(), uri)
			delete(refs, c.ID)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the credentials of %s: %w", c.Describe(), err)
		}
		out[c.ID] = dbSecret{URI: uri, Content: content}
		if byApp[c.App] == "" {
			byApp[c.App] = content[pgclient.FieldPassword]
		}
	}
	if !r.j.Leader || r.j.PeerID == "" {
		return out, nil
	}
	changed := len(refs) != len(plan.ParseSecretRefs(r.app.DatabaseSecrets))
	for _, c := range clients {
		if _, ok := out[c.ID]; ok || !c.Admit || c.Problem != "" {
			continue
		}
		pw := byApp[c.App]
		if pw == "" {
			var err error
			if pw, err = newPassword(); err != nil {
				return nil, err
			}
			byApp[c.App] = pw
		}
		content := map[string]string{pgclient.FieldUsername: c.User, pgclient.FieldPassword: pw}
		uri, err := secretAddDescribed(fmt.Sprintf("credentials of relation %s (%s)", c.ID, c.App), content)
		if err != nil {
			return nil, fmt.Errorf("create the credentials of %s: %w", c.Describe(), err)
		}
		goops.LogInfof("%s: created credentials for %s", c.Describe(), c.User)
		refs[c.ID], out[c.ID], changed = uri, dbSecret{URI: uri, Content: content}, true
	}
	for id, uri := range refs {
		if live[id] {
			continue
		}
		if err := goops.RemoveSecret(uri); err != nil {
			goops.LogWarningf("remove the credentials of the departed relation %s: %v", id, err)
		}
		delete(refs, id)
		changed = true
	}
	if changed {
		r.app.DatabaseSecrets = plan.FormatSecretRefs(refs)
		if err := r.writeApp(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// databaseServer checks each request against the server (whose database it is, what
// its roles reach), provisions it on the primary, revokes the users of relations that
// are gone, and collects the tokens this unit reports.
func (r *hookRun) databaseServer(secrets map[string]dbSecret, refuse func(plan.DatabaseClient, string)) error {
	d := &r.j.Database
	l := r.local
	if l == nil || l.Cluster == nil || !l.Running {
		return nil
	}
	primary := r.primary
	if (!primary && !l.Standby) || (!primary && len(d.Clients) == 0) {
		return nil
	}
	ctx := r.ctx
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	claims := r.claims()
	if claims == nil {
		return fmt.Errorf("decide the client databases: the server did not answer")
	}
	for _, c := range d.Clients {
		if !c.Admit || c.Problem != "" {
			continue
		}
		if msg := claims[c.ID].Problem; msg != "" {
			refuse(c, msg)
			continue
		}
		if msg, err := checkExtraRoles(ctx, db, c.Roles); err != nil {
			return err
		} else if msg != "" {
			refuse(c, msg)
			continue
		}
		host := d.Hosts[c.ID]
		if !primary {
			d.Report = append(d.Report, c.StandbyToken(host))
			continue
		}
		pw := secrets[c.ID].Content[pgclient.FieldPassword]
		if pw == "" {
			goops.LogInfof("%s: waiting for the leader to create its credentials", c.Describe())
			continue
		}
		if err := provisionDatabase(ctx, l.Cluster, db, c, pw, claims[c.ID]); err != nil {
			return fmt.Errorf("%s: %w", c.Describe(), err)
		}
		d.Report = append(d.Report, c.Token()+"@"+host)
	}
	if !primary {
		return nil
	}
	return revokeDatabaseUsers(ctx, db, d.Clients)
}

// checkExtraRoles refuses roles that do not exist (the database relation never creates
// them) and roles that reach past a group's privileges.
func checkExtraRoles(ctx context.Context, db *postgres.DB, roles []string) (string, error) {
	for _, role := range roles {
		f, err := roleFacts(ctx, db, role)
		if err != nil {
			return "", err
		}
		if !f.Exists {
			return fmt.Sprintf("extra-user-roles: role %q does not exist on this server", role), nil
		}
		if msg := plan.CheckRole(f); msg != "" {
			return "extra-user-roles: " + msg, nil
		}
	}
	return "", nil
}

// provisionDatabase creates the client's user with exactly its roles, and its
// database, on the primary; each step is idempotent.
func provisionDatabase(ctx context.Context, cluster *postgres.Cluster, db *postgres.DB, c plan.DatabaseClient, password string, claim plan.ClaimDecision) error {
	if _, err := db.EnsureRole(ctx, c.Role(password)); err != nil {
		return err
	}
	groups, err := db.Memberships(ctx, c.User)
	if err != nil {
		return err
	}
	member := map[string]bool{}
	for _, g := range groups {
		member[g] = true
	}
	want := map[string]bool{}
	for _, role := range c.Roles {
		want[role] = true
		if !member[role] {
			if _, err := db.GrantRole(ctx, role, c.User); err != nil {
				return err
			}
		}
	}
	for g := range member {
		if !want[g] {
			if err := db.RevokeRole(ctx, g, c.User); err != nil {
				return err
			}
		}
	}
	if !claim.Exists {
		if _, err := db.EnsureDatabase(ctx, c.Request.Database, c.User); err != nil {
			return err
		}
	}
	granted, err := db.HasDatabasePrivileges(ctx, c.User, c.Request.Database)
	if err != nil {
		return err
	}
	if !granted {
		if err := db.GrantDatabase(ctx, c.Request.Database, c.User, []string{"ALL"}); err != nil {
			return err
		}
	}
	return securePublicSchema(ctx, cluster, c.Request.Database, c.User)
}

// revokeDatabaseUsers disables the users of applications that no longer have a
// database relation, and ends their sessions: their data stays, owned by them, for the
// application to find again if it is related again under the same name.
func revokeDatabaseUsers(ctx context.Context, db *postgres.DB, live []plan.DatabaseClient) error {
	login, err := db.LoginRoles(ctx, pgclient.UserPrefix)
	if err != nil {
		return err
	}
	for _, u := range plan.StaleDatabaseUsers(login, live) {
		if _, err := db.EnsureRole(ctx, roles.Spec{Name: u}); err != nil {
			return err
		}
		if err := db.TerminateSessions(ctx, u); err != nil {
			return err
		}
		goops.LogInfof("revoked the access of %s: its application has no database relation left", u)
	}
	return nil
}

// databaseAnswer publishes each provisioned relation's answer (leader).
func (r *hookRun) databaseAnswer(secrets map[string]dbSecret) error {
	d := &r.j.Database
	reports := map[string]string{r.j.Unit: strings.Join(d.Report, " ")}
	var standbys []string
	for name, data := range r.j.Peers {
		rep, _ := plan.ParseUnitReport(name, data)
		reports[name] = rep.Clients
		if rep.Role == plan.RoleStandby {
			standbys = append(standbys, name)
		}
	}
	if r.local != nil && r.local.Standby {
		standbys = append(standbys, r.j.Unit)
	}
	version := ""
	if r.local != nil {
		version = r.local.FullVersion
	}
	for _, c := range d.Clients {
		s, ok := secrets[c.ID]
		if !c.Admit || c.Problem != "" || !ok {
			continue
		}
		if len(c.Subnets) == 0 {
			// None of its units has joined with an address yet, so pg_hba admits none:
			// a client tries what it is given when it arrives, and would get a refusal.
			// (Juju may run the client's relation-changed for these writes before this unit
			// sees its units join.)
			continue
		}
		h := plan.HostsFor(c, r.app.Primary, reports, standbys)
		if !h.Provisioned {
			continue
		}
		pw := s.Content[pgclient.FieldPassword]
		offer := plan.TLSOffer(c.Offer(h, strconv.Itoa(pgPort), version, pw), r.j.Config.TLSRequired, string(r.ca.CertPEM))
		bag, secret := offer.Split(c.Request)
		if err := r.offerTLS(c, offer, bag); err != nil {
			return err
		}
		content := plan.SecretContent(secret, c.User, pw)
		if !equalBags(s.Content, content) {
			if err := secretSetContent(s.URI, content); err != nil {
				return fmt.Errorf("update the credentials of %s: %w", c.Describe(), err)
			}
		}
		if c.Request.SecretsKnown {
			bag[pgclient.KeySecretUser] = s.URI
		}
		if equalBags(d.Own[c.ID], bag) {
			continue
		}
		if c.Request.SecretsKnown {
			if err := goops.GrantSecretToRelation(s.URI, c.ID); err != nil {
				return fmt.Errorf("grant the credentials to %s: %w", c.Describe(), err)
			}
		}
		if uri := bag[pgclient.KeySecretTLS]; uri != "" {
			if err := goops.GrantSecretToRelation(uri, c.ID); err != nil {
				return fmt.Errorf("grant the tls secret to %s: %w", c.Describe(), err)
			}
		}
		if err := relationSet(c.ID, true, bag); err != nil {
			return fmt.Errorf("answer %s: %w", c.Describe(), err)
		}
		goops.LogInfof("%s: %s on %s for %s", c.Describe(), c.Request.Database, bag[pgclient.KeyEndpoints], c.User)
		d.Own[c.ID] = bag
	}
	return nil
}

// secretAddDescribed creates an application-owned secret without a label (labels are
// unique per owner and would outlive a failed removal) and returns its URI.
func secretAddDescribed(description string, data map[string]string) (string, error) {
	var id string
	err := withPrivateFile(data, func(path string) error {
		out, err := hookTool("secret-add", "--owner", "application", "--description", description, "--file", path)
		id = strings.TrimSpace(string(out))
		return err
	})
	return id, err
}

// secretSetContent writes a new revision of a secret, its content through a file.
func secretSetContent(uri string, data map[string]string) error {
	return withPrivateFile(data, func(path string) error {
		_, err := hookTool("secret-set", uri, "--file", path)
		return err
	})
}

// primaryInfo is the get-primary action: the primary unit and where it listens.
func primaryInfo(ctx context.Context) error {
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	app := plan.ParseAppState(j.AppBag)
	if app.Primary == "" {
		return fmt.Errorf("no primary has been chosen yet")
	}
	addr := j.Address
	if app.Primary != j.Unit {
		rep, _ := plan.ParseUnitReport(app.Primary, j.Peers[app.Primary])
		addr = rep.Address
	}
	res := map[string]string{"primary": app.Primary}
	if addr != "" {
		res["address"] = addr
		res["endpoint"] = pgclient.Endpoints([]string{addr}, strconv.Itoa(pgPort))[0]
	}
	return goops.SetActionResults(res)
}
