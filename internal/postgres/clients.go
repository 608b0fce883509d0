package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// What the charm reads about its clients' roles and databases before and after
// provisioning them. Each query is a method here so that no SQL lives in the charm.

// DatabaseOwners maps each existing database among names to its owner.
func (db *DB) DatabaseOwners(ctx context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	rows, err := db.conn.Query(ctx, `SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("look up database owners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, owner string
		if err := rows.Scan(&name, &owner); err != nil {
			return nil, fmt.Errorf("look up database owners: %w", err)
		}
		out[name] = owner
	}
	return out, rows.Err()
}

// ReachedRole is a role that holding another one gives: itself, or one it belongs to,
// directly or through others.
type ReachedRole struct {
	Name                                                           string
	Self                                                           bool // the role asked about
	Login, Superuser, CreateRole, CreateDB, Replication, BypassRLS bool
}

// RoleReach lists name and every role it belongs to, directly or through others (any
// membership, with or without INHERIT or ADMIN OPTION: each can be used or passed on),
// with their attributes. It is empty when name does not exist.
func (db *DB) RoleReach(ctx context.Context, name string) ([]ReachedRole, error) {
	rows, err := db.conn.Query(ctx, `WITH RECURSIVE up(oid) AS (
			SELECT oid FROM pg_roles WHERE rolname = $1
			UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)
		SELECT r.rolname, r.oid = (SELECT oid FROM pg_roles WHERE rolname = $1), r.rolcanlogin, r.rolsuper,
			r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls
		FROM up JOIN pg_roles r ON r.oid = up.oid ORDER BY r.rolname`, name)
	if err != nil {
		return nil, fmt.Errorf("look up role %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReachedRole, error) {
		var r ReachedRole
		err := row.Scan(&r.Name, &r.Self, &r.Login, &r.Superuser, &r.CreateRole, &r.CreateDB, &r.Replication, &r.BypassRLS)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("look up role %s: %w", name, err)
	}
	return out, nil
}

// Memberships lists the roles user is a direct member of.
func (db *DB) Memberships(ctx context.Context, user string) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
		JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY g.rolname`, user)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", user, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", user, err)
	}
	return out, nil
}

// HasDatabasePrivileges says whether role holds every database privilege on database
// (CREATE, CONNECT, TEMPORARY). GRANT rewrites the catalog even when nothing changes, so
// the charm grants only what this says is missing.
func (db *DB) HasDatabasePrivileges(ctx context.Context, role, database string) (bool, error) {
	var ok bool
	if err := db.conn.QueryRow(ctx, `SELECT has_database_privilege($1, $2, 'CREATE') AND has_database_privilege($1, $2, 'CONNECT')
		AND has_database_privilege($1, $2, 'TEMPORARY')`, role, database).Scan(&ok); err != nil {
		return false, fmt.Errorf("privileges of %s on %s: %w", role, database, err)
	}
	return ok, nil
}

// LoginRoles lists the roles that can log in whose names start with prefix.
func (db *DB) LoginRoles(ctx context.Context, prefix string) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolcanlogin AND starts_with(rolname, $1) ORDER BY rolname`, prefix)
	if err != nil {
		return nil, fmt.Errorf("list the roles named %s*: %w", prefix, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the roles named %s*: %w", prefix, err)
	}
	return out, nil
}

// TerminateSessions ends every session of user.
func (db *DB) TerminateSessions(ctx context.Context, user string) error {
	if _, err := db.conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, user); err != nil {
		return fmt.Errorf("end the sessions of %s: %w", user, err)
	}
	return nil
}

// HasClient says whether user and database exist and user is a member of every role in
// roles: a client provisioned on the primary has replicated here.
func (db *DB) HasClient(ctx context.Context, user, database string, roles []string) (bool, error) {
	var ok bool
	err := db.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
		AND EXISTS (SELECT 1 FROM pg_database WHERE datname = $2)
		AND (SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
			WHERE u.rolname = $1 AND g.rolname = ANY($3)) = cardinality($3::text[])`,
		user, database, append([]string{}, roles...)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up client %s on %s: %w", user, database, err)
	}
	return ok, nil
}

// HasExtensions says whether every extension in names is installed in the connected
// database.
func (db *DB) HasExtensions(ctx context.Context, names []string) (bool, error) {
	var ok bool
	if err := db.conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_extension WHERE extname = ANY($1)) = cardinality($1::text[])`,
		append([]string{}, names...)).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up extensions %v: %w", names, err)
	}
	return ok, nil
}

// EnsureSchema creates schema in the connected database, usable by everyone (the
// original charm's home for a client's extensions), unless it exists.
func (db *DB) EnsureSchema(ctx context.Context, schema string) error {
	var exists bool
	if err := db.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema %s: %w", schema, err)
	}
	if exists {
		return nil
	}
	id := ident(schema)
	if _, err := db.conn.Exec(ctx, "CREATE SCHEMA "+id+"; GRANT USAGE ON SCHEMA "+id+" TO PUBLIC"); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}
