package charm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Client isolation on the server: the facts plan.DecideClaims and plan.CheckRole decide
// on (who owns each requested database, what each requested role reaches), and the
// public schema of client databases made private as PostgreSQL 15 has it.

// claims decides, for every client relation of either protocol, whether its database
// is its own to have, reading the owners from the local server once per hook. It is nil
// while the server cannot be asked (not running): pg_hba then admits no client to its
// database until it can (the next configure after the server starts).
func (r *hookRun) claims() map[string]plan.ClaimDecision {
	d := &r.j.Database
	if d.Claims != nil || r.local == nil || r.local.Cluster == nil {
		return d.Claims
	}
	running, err := postgres.IsRunning(r.ctx, r.local.Cluster)
	if err != nil || !running {
		return nil
	}
	db, err := postgres.Connect(r.ctx, r.local.Cluster, "postgres")
	if err != nil {
		goops.LogWarningf("client databases: %v", err)
		return nil
	}
	defer db.Close(r.ctx)
	if d.Claims, err = r.claimDecisions(r.ctx, db); err != nil {
		goops.LogWarningf("client databases: %v", err)
	}
	return d.Claims
}

// claimedRules are the pg_hba rules of the clients whose database is theirs; db-admin
// clients (every database) are never refused one.
func (r *hookRun) claimedRules() []hba.Rule {
	claims := r.claims()
	var pgsqlClients []plan.Client
	for _, c := range r.j.Clients.Clients {
		if d, ok := claims[c.ID]; c.Admin() || (ok && d.Problem == "") {
			pgsqlClients = append(pgsqlClients, c)
		}
	}
	var dbClients []plan.DatabaseClient
	for _, c := range r.j.Database.Clients {
		if d, ok := claims[c.ID]; ok && d.Problem == "" {
			dbClients = append(dbClients, c)
		}
	}
	return append(plan.ClientRules(pgsqlClients), plan.DatabaseRules(dbClients)...)
}

// claimDecisions decides the claims on the server db.
func (r *hookRun) claimDecisions(ctx context.Context, db *postgres.DB) (map[string]plan.ClaimDecision, error) {
	var claims []plan.Claim
	var names []string
	for _, c := range r.j.Clients.Clients {
		if c.Admit {
			claims = append(claims, plan.Claim{ID: c.ID, App: c.App, Database: c.Request.Database, Admin: c.Admin()})
			names = append(names, c.Request.Database)
		}
	}
	for _, c := range r.j.Database.Clients {
		if c.Admit {
			claims = append(claims, plan.Claim{ID: c.ID, App: c.App, Database: c.Request.Database})
			names = append(names, c.Request.Database)
		}
	}
	owners, err := databaseOwners(ctx, db, names)
	if err != nil {
		return nil, err
	}
	return plan.DecideClaims(claims, owners), nil
}

// databaseOwners maps each existing database among names to its owner.
func databaseOwners(ctx context.Context, db *postgres.DB, names []string) (map[string]string, error) {
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	rows, err := db.Conn().Query(ctx, `SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY($1)`, names)
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

// roleFacts reads what granting a role would hand over: its own attributes and those
// of every role it belongs to, directly or through others (any membership, with or
// without INHERIT or ADMIN OPTION: each can be used or passed on).
func roleFacts(ctx context.Context, db *postgres.DB, name string) (plan.RoleFacts, error) {
	f := plan.RoleFacts{Name: name}
	rows, err := db.Conn().Query(ctx, `WITH RECURSIVE up(oid) AS (
			SELECT oid FROM pg_roles WHERE rolname = $1
			UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)
		SELECT r.rolname, r.oid = (SELECT oid FROM pg_roles WHERE rolname = $1), r.rolcanlogin, r.rolsuper,
			r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls
		FROM up JOIN pg_roles r ON r.oid = up.oid`, name)
	if err != nil {
		return f, fmt.Errorf("look up role %s: %w", name, err)
	}
	defer rows.Close()
	powers := map[string]bool{}
	for rows.Next() {
		var rn string
		var self, login, super, createrole, createdb, repl, bypass bool
		if err := rows.Scan(&rn, &self, &login, &super, &createrole, &createdb, &repl, &bypass); err != nil {
			return f, fmt.Errorf("look up role %s: %w", name, err)
		}
		if self {
			f.Exists = true
		} else if reservedReach(rn) {
			f.Reaches = append(f.Reaches, rn)
		}
		for p, on := range map[string]bool{"LOGIN": login, "SUPERUSER": super, "CREATEROLE": createrole,
			"CREATEDB": createdb, "REPLICATION": repl, "BYPASSRLS": bypass} {
			if on {
				powers[p] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("look up role %s: %w", name, err)
	}
	for p := range powers {
		f.Powers = append(f.Powers, p)
	}
	sort.Strings(f.Powers)
	sort.Strings(f.Reaches)
	return f, nil
}

// reservedReach: roles of PostgreSQL and of the charm that no client may reach.
func reservedReach(role string) bool {
	return strings.HasPrefix(role, "pg_") || role == "postgres" || role == replicationUser || plan.IsClientUser(role)
}

// checkRoles refuses the first role that would hand a client more than a group's
// privileges.
func checkRoles(ctx context.Context, db *postgres.DB, roles []string) (string, error) {
	for _, role := range roles {
		f, err := roleFacts(ctx, db, role)
		if err != nil {
			return "", err
		}
		if msg := plan.CheckRole(f); msg != "" {
			return msg, nil
		}
	}
	return "", nil
}

// securePublicSchema gives a client database the public schema PostgreSQL 15 creates:
// owned by pg_database_owner (so the database's owner may create in it) and without
// CREATE for PUBLIC, so that no other role that can connect plants objects (functions,
// operators) in another client's search path. PostgreSQL 14 and older grant CREATE to
// PUBLIC by default. A client that is not the owner of its (pre-existing) database is
// granted USAGE and CREATE on the schema, which it had through PUBLIC before.
func securePublicSchema(ctx context.Context, cluster *postgres.Cluster, database, user string) error {
	target, err := postgres.Connect(ctx, cluster, database)
	if err != nil {
		return err
	}
	defer target.Close(ctx)
	var publicCreate, hasDBO, ownerOK, isOwner, userCreate bool
	err = target.Conn().QueryRow(ctx, `SELECT has_schema_privilege('public', n.oid, 'CREATE'),
			to_regrole('pg_database_owner') IS NOT NULL,
			n.nspowner = coalesce(to_regrole('pg_database_owner')::oid, 0),
			coalesce((SELECT datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) FROM pg_database WHERE datname = current_database()), false),
			has_schema_privilege($1, n.oid, 'CREATE')
		FROM pg_namespace n WHERE nspname = 'public'`, user).Scan(&publicCreate, &hasDBO, &ownerOK, &isOwner, &userCreate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the public schema of %s: %w", database, err)
	}
	var stmts []string
	if hasDBO && !ownerOK {
		stmts = append(stmts, "ALTER SCHEMA public OWNER TO pg_database_owner")
	}
	if publicCreate {
		stmts = append(stmts, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	}
	if !(hasDBO && isOwner) && (publicCreate || !userCreate) {
		stmts = append(stmts, "GRANT USAGE, CREATE ON SCHEMA public TO "+pgx.Identifier{user}.Sanitize())
	}
	if len(stmts) == 0 {
		return nil
	}
	if _, err := target.Conn().Exec(ctx, strings.Join(stmts, "; ")); err != nil {
		return fmt.Errorf("secure the public schema of %s: %w", database, err)
	}
	return nil
}
