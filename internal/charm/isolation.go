package charm

import (
	"context"
	"sort"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Client isolation on the server: the facts plan.DecideClaims and plan.CheckRole decide
// on (who owns each requested database, what each requested role reaches), and the
// public schema of client databases made private as PostgreSQL 15 has it.

// observeClaims decides, for every client relation of either protocol, whether its
// database is its own to have, reading the owners from the local server. It is nil while
// the server cannot be asked (not running): pg_hba then admits no client to its database
// until it can (the next configure after the server starts).
func observeClaims(ctx context.Context, o *plan.Observed, l *localFacts) {
	o.Claims = nil
	claims := plan.Claims(*o)
	if l == nil || l.Cluster == nil || !l.Running {
		return
	}
	if len(claims) == 0 {
		o.Claims = map[string]plan.ClaimDecision{}
		return
	}
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		goops.LogWarningf("client databases: %v", err)
		return
	}
	defer db.Close(ctx)
	var names []string
	for _, c := range claims {
		names = append(names, c.Database)
	}
	owners, err := db.DatabaseOwners(ctx, names)
	if err != nil {
		goops.LogWarningf("client databases: %v", err)
		return
	}
	o.Claims = plan.DecideClaims(claims, owners)
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
