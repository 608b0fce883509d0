package charm

import (
	"context"
	"sort"
	"strings"

	"github.com/gruyaume/goops"

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
	owners, err := db.DatabaseOwners(ctx, names)
	if err != nil {
		return nil, err
	}
	return plan.DecideClaims(claims, owners), nil
}

// roleFacts reads what granting a role would hand over: its own attributes and those
// of every role it belongs to, directly or through others (any membership, with or
// without INHERIT or ADMIN OPTION: each can be used or passed on).
func roleFacts(ctx context.Context, db *postgres.DB, name string) (plan.RoleFacts, error) {
	f := plan.RoleFacts{Name: name}
	reach, err := db.RoleReach(ctx, name)
	if err != nil {
		return f, err
	}
	powers := map[string]bool{}
	for _, r := range reach {
		if r.Self {
			f.Exists = true
		} else if reservedReach(r.Name) {
			f.Reaches = append(f.Reaches, r.Name)
		}
		for p, on := range map[string]bool{"LOGIN": r.Login, "SUPERUSER": r.Superuser, "CREATEROLE": r.CreateRole,
			"CREATEDB": r.CreateDB, "REPLICATION": r.Replication, "BYPASSRLS": r.BypassRLS} {
			if on {
				powers[p] = true
			}
		}
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

// securePublicSchema secures the public schema of a client's database
// (postgres.DB.SecurePublicSchema) for user.
func securePublicSchema(ctx context.Context, cluster *postgres.Cluster, database, user string) error {
	target, err := postgres.Connect(ctx, cluster, database)
	if err != nil {
		return err
	}
	defer target.Close(ctx)
	return target.SecurePublicSchema(ctx, user)
}
