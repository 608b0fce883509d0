package postgres

import (
	"reflect"
	"testing"

	"github.com/pgcharm/postgresql/internal/roles"
)

// TestClientQueries: what the charm reads about clients, on a real server.
func TestClientQueries(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	db := connect(t, ctx, c.Cluster, "postgres")
	for _, r := range []roles.Spec{{Name: "juju_app", Login: true, Password: "pw"}, {Name: "juju_gone", Login: true},
		{Name: "juju_nologin"}, {Name: "readers"}, {Name: "powerful", CreateRole: true}, {Name: "other", Login: true}} {
		if _, err := db.EnsureRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.EnsureDatabase(ctx, "appdb", "juju_app"); err != nil {
		t.Fatal(err)
	}
	for _, g := range [][2]string{{"readers", "juju_app"}, {"powerful", "readers"}} {
		if _, err := db.GrantRole(ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}

	owners, err := db.DatabaseOwners(ctx, []string{"appdb", "postgres", "nosuchdb"})
	if err != nil || !reflect.DeepEqual(owners, map[string]string{"appdb": "juju_app", "postgres": "postgres"}) {
		t.Errorf("DatabaseOwners = %v, %v", owners, err)
	}
	reach, err := db.RoleReach(ctx, "juju_app")
	if err != nil || len(reach) != 3 {
		t.Fatalf("RoleReach = %+v, %v", reach, err)
	}
	byName := map[string]ReachedRole{}
	for _, r := range reach {
		byName[r.Name] = r
	}
	if !byName["juju_app"].Self || !byName["juju_app"].Login || byName["readers"].Self || !byName["powerful"].CreateRole {
		t.Errorf("RoleReach through two memberships: %+v", reach)
	}
	if r, err := db.RoleReach(ctx, "nosuch"); err != nil || len(r) != 0 {
		t.Errorf("RoleReach of a missing role = %v, %v", r, err)
	}
	if m, err := db.Memberships(ctx, "juju_app"); err != nil || !reflect.DeepEqual(m, []string{"readers"}) {
		t.Errorf("Memberships = %v, %v", m, err)
	}
	if l, err := db.LoginRoles(ctx, "juju_"); err != nil || !reflect.DeepEqual(l, []string{"juju_app", "juju_gone"}) {
		t.Errorf("LoginRoles = %v, %v", l, err)
	}

	if ok, err := db.HasDatabasePrivileges(ctx, "other", "appdb"); err != nil || ok {
		t.Errorf("HasDatabasePrivileges before the grant = %v, %v", ok, err)
	}
	if err := db.GrantDatabase(ctx, "appdb", "other", []string{"ALL"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.HasDatabasePrivileges(ctx, "other", "appdb"); err != nil || !ok {
		t.Errorf("HasDatabasePrivileges after the grant = %v, %v", ok, err)
	}
	for _, tc := range []struct {
		user, db string
		roles    []string
		want     bool
	}{
		{"juju_app", "appdb", []string{"readers"}, true},
		{"juju_app", "appdb", nil, true},
		{"juju_app", "appdb", []string{"readers", "powerful"}, false}, // powerful only through readers
		{"juju_app", "nosuchdb", nil, false},
		{"nosuch", "appdb", nil, false},
	} {
		if ok, err := db.HasClient(ctx, tc.user, tc.db, tc.roles); err != nil || ok != tc.want {
			t.Errorf("HasClient(%s, %s, %v) = %v, %v; want %v", tc.user, tc.db, tc.roles, ok, err, tc.want)
		}
	}

	app := connect(t, ctx, c.Cluster, "appdb")
	for range 2 { // idempotent
		if err := app.EnsureSchema(ctx, `ext "schema"`); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := app.HasExtensions(ctx, []string{"plpgsql"}); err != nil || !ok {
		t.Errorf("HasExtensions(plpgsql) = %v, %v", ok, err)
	}
	if ok, err := app.HasExtensions(ctx, []string{"plpgsql", "hstore"}); err != nil || ok {
		t.Errorf("HasExtensions(plpgsql, hstore) = %v, %v", ok, err)
	}

	// The public schema: another role that can connect creates nothing there.
	exec1(t, ctx, app, "GRANT CREATE ON SCHEMA public TO PUBLIC")
	for range 2 {
		if err := app.SecurePublicSchema(ctx, "juju_app"); err != nil {
			t.Fatal(err)
		}
	}
	var otherCreate, appCreate bool
	if err := app.conn.QueryRow(ctx, `SELECT has_schema_privilege('other', 'public', 'CREATE'), has_schema_privilege('juju_app', 'public', 'CREATE')`).
		Scan(&otherCreate, &appCreate); err != nil {
		t.Fatal(err)
	}
	if otherCreate || !appCreate {
		t.Errorf("after SecurePublicSchema: other may create %v (want false), the owner %v (want true)", otherCreate, appCreate)
	}

	if err := db.TerminateSessions(ctx, "juju_app"); err != nil {
		t.Fatal(err)
	}
	if err := db.SwitchWAL(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := db.Archiver(ctx); err != nil || st.Failing {
		t.Errorf("Archiver without archiving = %+v, %v", st, err)
	}
}
