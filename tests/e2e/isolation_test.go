package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestClientIsolation is the attacker's side of client isolation (issue 15, items 3 and
// 11), on both protocols: a client asking for another client's database, a role that
// reaches pg_read_server_files through another role, a client unit rewriting its
// egress-subnets to the whole network; and a client database created from a template
// with PostgreSQL 14's public schema (CREATE for PUBLIC) gets 15's.
func TestClientIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	s := simtest.New(t)
	s.Verbose = false
	pg, pgsqlClient, dbClient := postgresqlCharm(t), clientCharm(t), databaseClientCharm(t)
	const model = "lab:iso"
	s.Bootstrap("lab")
	s.Run("add-model", "iso")
	s.Run("deploy", pg, "postgresql")
	s.Run("wait")
	primary, _ := expectRolesIn(t, s, model, "postgresql", 0)
	// PostgreSQL 14's defaults in the template every client database is copied from.
	s.Run("exec", primary, "--", "runuser", "-u", "postgres", "--", "psql", "-d", "template1", "-XAtc",
		"ALTER SCHEMA public OWNER TO postgres; GRANT CREATE ON SCHEMA public TO PUBLIC")
	psql(s, primary, "CREATE ROLE sneaky NOLOGIN; CREATE ROLE middle NOLOGIN; GRANT pg_read_server_files TO middle; GRANT middle TO sneaky")

	s.Run("deploy", pgsqlClient, "a")
	s.Run("integrate", "postgresql:db", "a:db")
	s.Run("wait")
	if out, err := svc(s, model, "a/0", "db_master", "CREATE TABLE mine (v int); INSERT INTO mine VALUES (1); SELECT count(*) FROM mine"); err != nil || !strings.HasSuffix(out, "\n1") {
		t.Fatalf("client a on its database: %q %v", out, err)
	}
	if out := strings.TrimSpace(s.Run("exec", primary, "--", "runuser", "-u", "postgres", "--", "psql", "-d", "a", "-XAtc",
		"SELECT has_schema_privilege('public', 'public', 'CREATE'), nspowner::regrole FROM pg_namespace WHERE nspname = 'public'")); out != "f|pg_database_owner" {
		t.Errorf("client a's public schema: %q, want f|pg_database_owner", out)
	}

	// Another client asking for a's database, on either protocol, is refused.
	s.Run("deploy", pgsqlClient, "b", "--config", "database=a")
	s.Run("integrate", "postgresql:db", "b:db")
	s.Run("deploy", dbClient, "c", "--config", "database=a")
	s.Run("integrate", "postgresql:database", "c:database")
	s.Run("wait")
	bRel := relationID(t, s, model, "b/0", "db")
	eventually(t, time.Minute, "both refusals in the primary's status", func() bool {
		st, msg := unitStatus(s, model, primary)
		return st == "blocked" && strings.Contains(msg, `database "a" belongs to another client application (owner juju_a)`) &&
			strings.Contains(msg, bRel+":") && strings.Contains(msg, "database:")
	})
	if g := got(t, s, model, "c/0"); g.Bag["secret-user"] != "" || g.Credentials.Password != "" {
		t.Errorf("c got credentials for a's database: %v", g.Bag)
	}
	// b may have been given its default database before it asked for a's (the pgsql
	// protocol's client sets its request after joining); it never gets a's.
	bPub := served(t, s, model, primary, "db", "b")
	if bPub["database"] == "a" {
		t.Errorf("b was handed a's database")
	}
	if bPub["password"] != "" {
		if out, err := dial(s, model, "b/0", addressOf(t, s, model, primary), "a", "juju_b", bPub["password"], "SELECT 1"); !rejected(out, err) {
			t.Errorf("b connected to a's database: %q %v", out, err)
		}
	}
	if h := hba(s, model, primary); strings.Contains(h, "\"a\"\t\"juju_b\"") || strings.Contains(h, "juju_database_c") {
		t.Errorf("pg_hba admits a refused client to a's database:\n%s", h)
	}
	if out := psql(s, primary, "SELECT count(*) FROM pg_roles WHERE rolname = 'juju_database_c'"); out != "0" {
		t.Errorf("a user was created for a refused request")
	}
	s.Run("remove-relation", "postgresql:db", "b:db")
	s.Run("remove-relation", "postgresql:database", "c:database")

	// A role reaching pg_read_server_files through another role is refused.
	s.Run("config", "a", "roles=sneaky")
	eventually(t, time.Minute, "the relation blocked for sneaky", func() bool {
		st, msg := unitStatus(s, model, primary)
		return st == "blocked" && strings.Contains(msg, `role "sneaky" is a member of middle`) || strings.Contains(msg, `role "sneaky" is a member of pg_read_server_files`)
	})
	if out := psql(s, primary, "SELECT pg_has_role('juju_a', 'pg_read_server_files', 'member')"); out != "f" {
		t.Errorf("juju_a reaches pg_read_server_files")
	}
	s.Run("config", "a", "roles=")
	eventually(t, time.Minute, "the primary active again", func() bool {
		st, _ := unitStatus(s, model, primary)
		return st == "active"
	})

	// A client unit claiming the whole network: refused, pg_hba keeps its own address.
	aAddr := addressOf(t, s, model, "a/0")
	s.Run("exec", "a/0", "--", "relation-set", "-r", relationID(t, s, model, "a/0", "db"), "egress-subnets=0.0.0.0/0")
	s.Run("wait")
	eventually(t, time.Minute, "the relation blocked for 0.0.0.0/0", func() bool {
		st, msg := unitStatus(s, model, primary)
		return st == "blocked" && strings.Contains(msg, "0.0.0.0/0 covers the whole network")
	})
	h := hba(s, model, primary)
	if len(openRules(h)) > 0 || !strings.Contains(h, aAddr+"/32") {
		t.Errorf("pg_hba after the catch-all claim:\n%s", h)
	}
	s.Run("deploy", pgsqlClient, "stranger")
	s.Run("wait")
	password := served(t, s, model, primary, "db", "a")["password"]
	if out, err := dial(s, model, "stranger/0", addressOf(t, s, model, primary), "a", "juju_a", password, "SELECT 1"); !rejected(out, err) {
		t.Errorf("a stranger connected as a after the catch-all claim: %q %v", out, err)
	}

	// The same on the database relation, with IPv6's catch-all.
	s.Run("deploy", dbClient, "d")
	s.Run("integrate", "postgresql:database", "d:database")
	s.Run("wait")
	connected(t, s, model, "d/0", "juju_database_d@")
	s.Run("exec", "d/0", "--", "relation-set", "-r", relationID(t, s, model, "d/0", "database"), "egress-subnets=::/0")
	s.Run("wait")
	eventually(t, time.Minute, "the relation blocked for ::/0", func() bool {
		_, msg := unitStatus(s, model, primary)
		return strings.Contains(msg, "::/0 covers the whole network")
	})
	if h := hba(s, model, primary); len(openRules(h)) > 0 || !strings.Contains(h, addressOf(t, s, model, "d/0")+"/32") {
		t.Errorf("pg_hba after the IPv6 catch-all claim:\n%s", h)
	}
}
