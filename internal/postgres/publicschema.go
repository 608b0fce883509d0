package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SecurePublicSchema gives the connected (client) database the public schema PostgreSQL
// 15 creates: owned by pg_database_owner (so the database's owner may create in it) and
// without CREATE for PUBLIC, so that no other role that can connect plants objects
// (functions, operators) in another client's search path. PostgreSQL 14 and older grant
// CREATE to PUBLIC by default. A user that is not the owner of its (pre-existing)
// database is granted USAGE and CREATE on the schema, which it had through PUBLIC before.
func (db *DB) SecurePublicSchema(ctx context.Context, user string) error {
	var database string
	var publicCreate, hasDBO, ownerOK, isOwner, userCreate bool
	err := db.conn.QueryRow(ctx, `SELECT current_database(), has_schema_privilege('public', n.oid, 'CREATE'),
			to_regrole('pg_database_owner') IS NOT NULL,
			n.nspowner = coalesce(to_regrole('pg_database_owner')::oid, 0),
			coalesce((SELECT datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) FROM pg_database WHERE datname = current_database()), false),
			has_schema_privilege($1, n.oid, 'CREATE')
		FROM pg_namespace n WHERE nspname = 'public'`, user).Scan(&database, &publicCreate, &hasDBO, &ownerOK, &isOwner, &userCreate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the public schema: %w", err)
	}
	var stmts []string
	if hasDBO && !ownerOK {
		stmts = append(stmts, "ALTER SCHEMA public OWNER TO pg_database_owner")
	}
	if publicCreate {
		stmts = append(stmts, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	}
	if !(hasDBO && isOwner) && (publicCreate || !userCreate) {
		stmts = append(stmts, "GRANT USAGE, CREATE ON SCHEMA public TO "+ident(user))
	}
	if len(stmts) == 0 {
		return nil
	}
	if _, err := db.conn.Exec(ctx, strings.Join(stmts, "; ")); err != nil {
		return fmt.Errorf("secure the public schema of %s: %w", database, err)
	}
	return nil
}
