package charm

import (
	"context"
	"fmt"
	"os"
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

func observeDatabase(f *plan.Observed, allowSuperuser bool) error {
	d := plan.DatabasesFacts{Hosts: map[string]string{}, Own: map[string]map[string]string{}}
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
	d.Clients = plan.DecideDatabases(rels, plan.DatabaseOptions{AllowSuperuser: allowSuperuser})
	f.Databases = d
	return nil
}

// observeDatabaseSecrets reads each relation's credentials secret. One the application
// bag lists that is gone (the relation is going away, or someone removed it) is left out:
// the leader creates a new one, the others wait for it.
func observeDatabaseSecrets(o *plan.Observed) error {
	f := &o.Databases
	f.Secrets = map[string]plan.DatabaseSecret{}
	refs := plan.ParseSecretRefs(o.AppBag.DatabaseSecrets)
	for _, c := range f.Clients {
		uri := refs[c.ID]
		if uri == "" {
			continue
		}
		content, err := readOwnSecret(uri)
		if err != nil && strings.Contains(err.Error(), "not found") {
			goops.LogWarningf("the credentials of %s (%s) are gone", c.Describe(), uri)
			continue
		}
		if err != nil {
			return fmt.Errorf("read the credentials of %s: %w", c.Describe(), err)
		}
		f.Secrets[c.ID] = plan.DatabaseSecret{URI: uri, Content: content}
	}
	return nil
}

// observeDatabaseServer reads what the local server holds for the requests, when it
// serves them: whose each requested database is, what each extra-user-role reaches, and
// on the primary the database users that log in.
func (r *applying) observeDatabaseServer(isPrimary bool) error {
	f := &r.Databases
	f.Server = nil
	l := r.local
	if l == nil || l.Cluster == nil || !l.Running || (!isPrimary && !l.Standby) || (!isPrimary && len(f.Clients) == 0) {
		return nil
	}
	ctx := r.ctx
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	s := &plan.DatabaseServer{Roles: map[string]plan.RoleFacts{}}
	if s.Claims = r.Claims; s.Claims == nil {
		return fmt.Errorf("decide the client databases: the server did not answer")
	}
	for _, c := range f.Clients {
		if !c.Admit || c.Problem != "" || s.Claims[c.ID].Problem != "" {
			continue
		}
		for _, role := range c.Roles {
			if _, done := s.Roles[role]; done {
				continue
			}
			if s.Roles[role], err = roleFacts(ctx, db, role); err != nil {
				return err
			}
		}
	}
	if isPrimary {
		if s.LoginRoles, err = db.LoginRoles(ctx, pgclient.UserPrefix); err != nil {
			return err
		}
	}
	f.Server = s
	return nil
}

// databaseRelations does what plan.Decide decided for the database relations: the leader
// keeps the credentials secrets, the primary provisions and revokes, every serving unit
// reports, and the leader answers.
func (r *applying) databaseRelations(p plan.DatabasesPlan) error {
	if p.Refs != nil {
		if err := r.keepDatabaseSecrets(p); err != nil {
			return err
		}
		p = r.decide().Databases
	}
	for _, msg := range p.Refused {
		goops.LogErrorf("refused %s", msg)
	}
	tokens := p.Tokens
	if len(p.Provision) > 0 || len(p.Revoke) > 0 {
		ctx, l := r.ctx, r.local
		db, err := postgres.Connect(ctx, l.Cluster, "postgres")
		if err != nil {
			return err
		}
		defer db.Close(ctx)
		for _, v := range p.Provision {
			if err := provisionDatabase(ctx, l.Cluster, db, v.Client, v.Password, v.Claim); err != nil {
				return fmt.Errorf("%s: %w", v.Client.Describe(), err)
			}
			tokens = append(tokens, v.Token)
		}
		if err := revokeDatabaseUsers(ctx, db, p.Revoke); err != nil {
			return err
		}
	}
	if len(tokens) > 0 {
		r.report = plan.Tokens(append(strings.Fields(r.report), tokens...))
	}
	if r.Leader {
		return r.databaseAnswer(p.Answers)
	}
	return nil
}

// keepDatabaseSecrets creates the credentials secrets the leader decided on (relations of
// one application sharing its user's password), removes those of relations that are gone,
// and lists the rest in the application bag.
func (r *applying) keepDatabaseSecrets(p plan.DatabasesPlan) error {
	refs := p.Refs
	byApp := map[string]string{}
	for _, n := range p.CreateSecrets {
		c := n.Client
		pw := n.Password
		if pw == "" {
			pw = byApp[c.App]
		}
		if pw == "" {
			var err error
			if pw, err = newPassword(); err != nil {
				return err
			}
		}
		byApp[c.App] = pw
		content := map[string]string{pgclient.FieldUsername: c.User, pgclient.FieldPassword: pw}
		uri, err := secretAddDescribed(fmt.Sprintf("credentials of relation %s (%s)", c.ID, c.App), content)
		if err != nil {
			return fmt.Errorf("create the credentials of %s: %w", c.Describe(), err)
		}
		goops.LogInfof("%s: created credentials for %s", c.Describe(), c.User)
		refs[c.ID], r.Databases.Secrets[c.ID] = uri, plan.DatabaseSecret{URI: uri, Content: content}
	}
	for _, uri := range p.RemoveSecrets {
		if err := goops.RemoveSecret(uri); err != nil {
			goops.LogWarningf("remove the credentials of a departed relation (%s): %v", uri, err)
		}
	}
	app := r.AppBag
	app.DatabaseSecrets = plan.FormatSecretRefs(refs)
	return r.writeApp(app)
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
// database relation (plan.StaleDatabaseUsers), and ends their sessions: their data stays,
// owned by them, for the application to find again if it is related again under the same
// name.
func revokeDatabaseUsers(ctx context.Context, db *postgres.DB, users []string) error {
	for _, u := range users {
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

// databaseAnswer publishes the leader's answers (plan.DatabaseAnswer): the tls secret
// where the client asked for TLS as a secret, the credentials secret's content, the
// grants, and the relation's application bag, each only when it changes.
func (r *applying) databaseAnswer(answers []plan.DatabaseAnswer) error {
	d := &r.Databases
	for _, a := range answers {
		c, bag := a.Client, a.Bag
		if len(a.TLS) > 0 {
			uri, err := r.tlsSecret(a.TLS)
			if err != nil {
				return fmt.Errorf("the tls secret of %s: %w", c.Describe(), err)
			}
			bag[pgclient.KeySecretTLS] = uri
		}
		if have := r.Databases.Secrets[c.ID].Content; !equalBags(have, a.Secret.Content) {
			if err := secretSetContent(a.Secret.URI, a.Secret.Content); err != nil {
				return fmt.Errorf("update the credentials of %s: %w", c.Describe(), err)
			}
		}
		if equalBags(d.Own[c.ID], bag) {
			continue
		}
		if c.Request.SecretsKnown {
			if err := goops.GrantSecretToRelation(a.Secret.URI, c.ID); err != nil {
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
