package postgres

import (
	"errors"
	"testing"

	"github.com/pgcharm/postgresql/internal/roles"
)

func TestRolesDatabasesExtensions(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	db := connect(t, ctx, c.Cluster, "postgres")

	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: `Mixed "Case" role`, Login: true, Password: "pw1"}); err != nil || !changed {
		t.Fatalf("create: %v %v", changed, err)
	}
	var super, canLogin, createDB bool
	var pw *string
	read := func() {
		t.Helper()
		err := db.conn.QueryRow(ctx, `SELECT rolsuper, rolcanlogin, rolcreatedb, rolpassword FROM pg_authid WHERE rolname = $1`,
			`Mixed "Case" role`).Scan(&super, &canLogin, &createDB, &pw)
		if err != nil {
			t.Fatal(err)
		}
	}
	read()
	if super || !canLogin || createDB || pw == nil || !scramMatches(*pw, "pw1") {
		t.Errorf("created role: super=%v login=%v createdb=%v pw=%v", super, canLogin, createDB, pw)
	}
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: `Mixed "Case" role`, Login: true, CreateDB: true, Password: "pw1"}); err != nil || !changed {
		t.Fatalf("alter attributes: %v %v", changed, err)
	}
	read()
	if !createDB || !scramMatches(*pw, "pw1") {
		t.Errorf("after attribute change: createdb=%v", createDB)
	}
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: `Mixed "Case" role`, Login: true, CreateDB: true, Password: "pw2"}); err != nil || !changed {
		t.Fatalf("new password: %v %v", changed, err)
	}
	read()
	if !scramMatches(*pw, "pw2") {
		t.Error("password not changed")
	}
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: `Mixed "Case" role`, Login: true, CreateDB: true}); err != nil || !changed {
		t.Fatalf("remove password: %v %v", changed, err)
	}
	read()
	if pw != nil {
		t.Error("password not removed")
	}
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: "x", Password: "naïve"}); err == nil {
		t.Error("non-ASCII password accepted")
	}

	if _, err := db.EnsureRole(ctx, roles.Spec{Name: "admins"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.GrantRole(ctx, "admins", `Mixed "Case" role`); err != nil || !changed {
		t.Errorf("GrantRole: %v %v", changed, err)
	}
	if changed, err := db.GrantRole(ctx, "admins", `Mixed "Case" role`); err != nil || changed {
		t.Errorf("GrantRole again: %v %v", changed, err)
	}
	if _, err := db.EnsureDatabase(ctx, "my-db", `Mixed "Case" role`); err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := db.conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'my-db'").Scan(&owner); err != nil || owner != `Mixed "Case" role` {
		t.Errorf("owner %q, %v", owner, err)
	}
	privs, err := ParseDatabasePrivileges("connect")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.GrantDatabase(ctx, "my-db", "admins", privs); err != nil {
		t.Fatal(err)
	}
	var can bool
	if err := db.conn.QueryRow(ctx, "SELECT has_database_privilege('admins', 'my-db', 'CONNECT')").Scan(&can); err != nil || !can {
		t.Errorf("CONNECT not granted: %v", err)
	}
	if err := db.conn.QueryRow(ctx, "SELECT has_database_privilege('admins', 'my-db', 'CREATE')").Scan(&can); err != nil || can {
		t.Errorf("CREATE granted: %v", err)
	}

	appdb := connect(t, ctx, c.Cluster, "my-db")
	exec1(t, ctx, appdb, "CREATE SCHEMA ext")
	if err := appdb.EnsureExtensions(ctx, []string{"hstore", "pgcrypto"}, "ext"); err != nil {
		t.Fatal(err)
	}
	if err := appdb.EnsureExtensions(ctx, []string{"hstore", "pgcrypto"}, "ext"); err != nil {
		t.Errorf("again: %v", err)
	}
	var schema string
	if err := appdb.conn.QueryRow(ctx, "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'hstore'").Scan(&schema); err != nil || schema != "ext" {
		t.Errorf("hstore in %q, %v", schema, err)
	}
	err = appdb.EnsureExtensions(ctx, []string{"citext", "no_such_ext", "nor_this"}, "")
	var me *MissingExtensionsError
	if !errors.As(err, &me) || len(me.Names) != 2 || me.Names[0] != "no_such_ext" {
		t.Errorf("missing extensions: %v", err)
	}
	var n int
	if err := appdb.conn.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'citext'").Scan(&n); err != nil || n != 0 {
		t.Errorf("citext created although the request failed: %d %v", n, err)
	}

	if err := db.RevokeRole(ctx, "admins", `Mixed "Case" role`); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, db, `REVOKE ALL ON DATABASE "my-db" FROM admins`)
	if err := db.DropRole(ctx, "admins"); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.RoleExists(ctx, "admins"); err != nil || ok {
		t.Errorf("admins still exists: %v", err)
	}
	if err := db.DropRole(ctx, "admins"); err != nil {
		t.Errorf("dropping a missing role: %v", err)
	}
}

func TestInstallAlreadyInstalled(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	// Installed packages are left alone: no apt-get, no dpkg lock.
	if err := Install(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := Install(ctx, "15; rm -rf /"); err == nil {
		t.Error("a bad version reached apt-get")
	}
}
