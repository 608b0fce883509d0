package e2e

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
	"github.com/pgcharm/postgresql/internal/pgclient"
)

var databaseClientCharmDir = builtCharm("../charms/database-client", "./tests/charms/database-client")

// databaseClientCharm is the postgresql_client test client (data_interfaces' requirer side).
func databaseClientCharm(t *testing.T) string { return charmPath(t, databaseClientCharmDir) }

// clientGot is what tests/charms/database-client records per relation.
type clientGot struct {
	Bag         map[string]string    `json:"bag"`
	Credentials pgclient.Credentials `json:"Credentials"`
	Connected   string               `json:"connected"`
	Error       string               `json:"error"`
}

// got reads what a database-client unit got on its (only) database relation.
func got(t *testing.T, s *simtest.Sim, model, unit string) clientGot {
	t.Helper()
	out, _, err := s.RunE("exec", "-m", model, unit, "--", "cat", "/root/database-client.json")
	if err != nil {
		return clientGot{}
	}
	var m map[string]clientGot
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s: database-client.json: %v\n%s", unit, err, out)
	}
	for _, g := range m {
		return g
	}
	return clientGot{}
}

// connected waits until a client unit reports a working connection to want (user@host).
func connected(t *testing.T, s *simtest.Sim, model, unit, want string) clientGot {
	t.Helper()
	var g clientGot
	eventually(t, 2*time.Minute, unit+" connected as "+want, func() bool {
		g = got(t, s, model, unit)
		return strings.HasPrefix(g.Connected, want)
	})
	return g
}

// viaURI runs SQL from a unit's machine through a libpq URI, the password passed in the
// environment (never in argv, even on a test machine).
func viaURI(s *simtest.Sim, model, unit, uri, sql string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	pw, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	q := u.Query()
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	out, stderr, err := s.RunE("exec", "-m", model, unit, "--", "env", "PGPASSWORD="+pw, "psql", u.String(), "-XAtc", sql)
	return strings.TrimSpace(out + stderr), err
}

// relationID is the number of a unit's relation on endpoint.
func relationID(t *testing.T, s *simtest.Sim, model, unit, endpoint string) string {
	t.Helper()
	r := s.ShowUnit(model, unit).Relation(t, endpoint)
	return endpoint + ":" + strconv.Itoa(r.RelationID)
}

// unitStatus is the workload status of one unit.
func unitStatus(s *simtest.Sim, model, unit string) (string, string) {
	app, _, _ := strings.Cut(unit, "/")
	w := s.Status(model).Applications[app].Units[unit].Workload
	return w.Current, w.Message
}

// TestDatabaseRelation: a data_interfaces-style client on the same model and one
// across models (offer/consume) get their own user and database, write and read back
// through the URIs of the secret; the credentials are never in the bag; an unrelated
// machine with them is refused; extra-user-roles are granted exactly (a permitted role)
// or refused with the relation blocked (pg_read_server_files, a role that reaches it,
// one that does not exist); after a switchover endpoints names the new primary and the
// client reconnects; a second client unit is admitted; a client without secrets gets
// the plain fields; removing the relation revokes access and keeps the database.
func TestDatabaseRelation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	s := simtest.New(t)
	s.Verbose = false
	pg, cl := postgresqlCharm(t), databaseClientCharm(t)
	const server, remote = "lab:server", "far:remote"

	s.Bootstrap("lab")
	s.Run("add-model", "server")
	s.Run("deploy", pg, "postgresql", "-n", "2")
	s.Run("deploy", cl, "app", "--config", "external-node-connectivity=true")
	s.Run("integrate", "postgresql:database", "app:database")
	s.Run("wait")
	primary, standbys := expectRolesIn(t, s, server, "postgresql", 1)
	primaryAddr, standbyAddr := addressOf(t, s, server, primary), addressOf(t, s, server, standbys[0])
	g := connected(t, s, server, "app/0", "juju_database_app@"+primaryAddr+":5432/app")
	if st, msg := unitStatus(s, server, "app/0"); st != "active" || !strings.HasPrefix(msg, "Connected") {
		t.Errorf("client status %s %q", st, msg)
	}

	// The answer: endpoints, read-only-endpoints, version, secret-user; the credentials
	// only in the secret.
	bag := g.Bag
	if bag["database"] != "app" || bag["endpoints"] != primaryAddr+":5432" || bag["read-only-endpoints"] != standbyAddr+":5432" ||
		!strings.HasPrefix(bag["version"], "1") || !strings.HasPrefix(bag["secret-user"], "secret:") {
		t.Errorf("the server's bag: %v", bag)
	}
	c := g.Credentials
	if c.Username != "juju_database_app" || len(c.Password) < 32 || c.URIs == "" || c.ReadOnlyURIs == "" {
		t.Fatalf("credentials %+v", redactCreds(c))
	}
	noCredentialsInBags(t, s, server, "app/0", c.Password)
	if !strings.Contains(c.URIs, primaryAddr+":5432") || !strings.Contains(c.URIs, standbyAddr+":5432") ||
		!strings.Contains(c.URIs, "target_session_attrs=read-write") {
		t.Errorf("uris %s", redactURI(c.URIs))
	}
	if out := psql(s, primary, "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = 'juju_database_app'"); out != "f|f|f|t" {
		t.Errorf("the client's user attributes: %q", out)
	}

	// Hooks run again on the settled servers change nothing the client sees: no
	// relation write (no relation-changed on the client), no new secret revision.
	changedHooks := func() int {
		return strings.Count(s.Run("debug-log", "-m", server, "--include", "app/0"), `ran "database-relation-changed" hook`)
	}
	revision := func() string {
		return s.Run("exec", "-m", server, leaderOf(t, s, server), "--", "secret-info-get", bag["secret-user"], "--format=json")
	}
	hooksBefore, revBefore := changedHooks(), revision()
	if hooksBefore == 0 || !strings.Contains(revBefore, `"revision"`) {
		t.Fatalf("counted %d relation-changed hooks on the client and secret info %q: the check below would prove nothing", hooksBefore, revBefore)
	}
	for _, u := range []string{primary, standbys[0]} {
		for _, hook := range []string{"config-changed", "update-status", "upgrade-charm", "leader-settings-changed"} {
			s.Run("run-hook", u, hook)
		}
	}
	if n, rev := changedHooks(), revision(); n != hooksBefore || rev != revBefore {
		t.Errorf("hooks run again on settled servers: %d relation-changed hooks on the client (was %d), secret %s (was %s)", n, hooksBefore, rev, revBefore)
	}

	// Write through uris (libpq finds the primary among all units), read back through
	// read-only-uris (a standby).
	if out, err := viaURI(s, server, "app/0", c.URIs, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('one'); SELECT current_user, current_database()"); err != nil ||
		!strings.HasSuffix(out, "juju_database_app|app") {
		t.Fatalf("write through uris: %q %v", out, err)
	}
	eventually(t, 30*time.Second, "the row through read-only-uris", func() bool {
		out, err := viaURI(s, server, "app/0", c.ReadOnlyURIs, "SELECT pg_is_in_recovery(), string_agg(v, ',') FROM kept")
		return err == nil && out == "t|one"
	})
	if h := hba(s, server, primary); !strings.Contains(h, "\"app\"\t\"juju_database_app\"\t"+addressOf(t, s, server, "app/0")+"/32\tscram-sha-256") {
		t.Errorf("pg_hba lacks the client's rule:\n%s", h)
	} else if wide := openRules(h); len(wide) > 0 {
		t.Errorf("external-node-connectivity opened pg_hba: %q", wide)
	}

	// An unrelated machine with the same credentials is refused.
	s.Run("deploy", cl, "stranger")
	if out, err := dial(s, server, "stranger/0", primaryAddr, "app", c.Username, c.Password, "SELECT 1"); !rejected(out, err) {
		t.Errorf("an unrelated machine connected with the client's credentials: %q %v", out, err)
	}

	// extra-user-roles: an existing plain role is granted, exactly; a predefined role,
	// a role reaching one and a missing role block the relation, naming it, and are
	// not granted; the client keeps its access meanwhile.
	psql(s, primary, "CREATE ROLE app_reader NOLOGIN; CREATE ROLE sneaky NOLOGIN; GRANT pg_read_server_files TO sneaky")
	rel := relationID(t, s, server, primary, "database")
	s.Run("config", "app", "extra-user-roles=app_reader")
	eventually(t, time.Minute, "app_reader granted", func() bool {
		return psql(s, primary, "SELECT pg_has_role('juju_database_app', 'app_reader', 'member')") == "t"
	})
	for _, bad := range []struct{ roles, want string }{
		{"pg_read_server_files", `role "pg_read_server_files" is a predefined PostgreSQL role`},
		{"app_reader,sneaky", `role "sneaky" is a member of pg_read_server_files`},
		{"nobody", `role "nobody" does not exist`},
		{"superuser", "database_allow_superuser"},
	} {
		s.Run("config", "app", "extra-user-roles="+bad.roles)
		eventually(t, time.Minute, "the relation blocked for "+bad.roles, func() bool {
			st, msg := unitStatus(s, server, primary)
			return st == "blocked" && strings.Contains(msg, rel) && strings.Contains(msg, bad.want)
		})
		if out := psql(s, primary, "SELECT pg_has_role('juju_database_app', 'pg_read_server_files', 'member'), rolsuper FROM pg_roles WHERE rolname = 'juju_database_app'"); out != "f|f" {
			t.Fatalf("%s: the refused role was granted: %q", bad.roles, out)
		}
		if out, err := viaURI(s, server, "app/0", c.URIs, "SELECT count(*) FROM kept"); err != nil || out != "1" {
			t.Errorf("%s: the client lost its access: %q %v", bad.roles, out, err)
		}
	}
	s.Run("config", "app", "extra-user-roles=")
	eventually(t, time.Minute, "the relation unblocked and app_reader revoked", func() bool {
		st, _ := unitStatus(s, server, primary)
		return st == "active" && psql(s, primary, "SELECT pg_has_role('juju_database_app', 'app_reader', 'member')") == "f"
	})

	// Switchover: endpoints names the new primary, the client reconnects there; the
	// secret's content (the URIs) is unchanged.
	leader := s.Leader(server, "postgresql")
	if res := s.RunAction(leader, "switchover", "master="+standbys[0]); res.Status != "completed" {
		t.Fatalf("switchover: %+v", res)
	}
	if p, _ := expectRolesIn(t, s, server, "postgresql", 1); p != standbys[0] {
		t.Fatalf("after switchover the primary is %s", p)
	}
	g = connected(t, s, server, "app/0", "juju_database_app@"+standbyAddr+":5432/app")
	if g.Bag["endpoints"] != standbyAddr+":5432" || g.Bag["read-only-endpoints"] != primaryAddr+":5432" {
		t.Errorf("after switchover: endpoints %q read-only %q", g.Bag["endpoints"], g.Bag["read-only-endpoints"])
	}
	if g.Credentials != c {
		t.Errorf("the secret's content changed with the switchover")
	}
	if res := s.RunAction(standbys[0], "get-primary"); res.Status != "completed" || res.Results["primary"] != standbys[0] ||
		res.Results["address"] != standbyAddr || res.Results["endpoint"] != standbyAddr+":5432" {
		t.Errorf("get-primary: %+v", res)
	}
	if out, err := viaURI(s, server, "app/0", c.URIs, "INSERT INTO kept VALUES ('two'); SELECT count(*) FROM kept"); err != nil || !strings.HasSuffix(out, "2") {
		t.Errorf("write after switchover: %q %v", out, err)
	}
	primary, primaryAddr = standbys[0], standbyAddr

	// Another leader, then a charm upgrade: the same secret, the same content.
	uri := g.Bag["secret-user"]
	other := "postgresql/0"
	if leader == other {
		other = "postgresql/1"
	}
	s.Run("elect", other)
	s.Run("wait")
	s.Run("refresh", "postgresql", "--path", pg)
	s.Run("wait")
	s.Run("run-hook", "app/0", "update-status")
	g = connected(t, s, server, "app/0", "juju_database_app@"+primaryAddr)
	if g.Bag["secret-user"] != uri || g.Credentials != c {
		t.Errorf("after a leader change and an upgrade: secret-user %q (was %q), same content %v", g.Bag["secret-user"], uri, g.Credentials == c)
	}

	// A second client unit is admitted. The application bag it reads is the one app/0
	// got, so no hook tells it when the primary's pg_hba admits it (the primary's
	// relation-joined for it runs beside its own first hooks): like any client, it tries
	// again later, here in its update-status.
	s.Run("add-unit", "app")
	eventually(t, 2*time.Minute, "app/1 connected as juju_database_app@"+primaryAddr, func() bool {
		if strings.HasPrefix(got(t, s, server, "app/1").Connected, "juju_database_app@"+primaryAddr) {
			return true
		}
		_, _, _ = s.RunE("run-hook", "app/1", "update-status")
		return false
	})
	if out, err := viaURI(s, server, "app/1", c.URIs, "SELECT count(*) FROM kept"); err != nil || out != "2" {
		t.Errorf("the second unit reads %q %v", out, err)
	}

	// A client without secrets (no requested-secrets) gets the plain fields.
	s.Run("deploy", cl, "plain", "--config", "requested-secrets=")
	s.Run("integrate", "postgresql:database", "plain:database")
	p := connected(t, s, server, "plain/0", "juju_database_plain@"+primaryAddr)
	if p.Bag["secret-user"] != "" || p.Bag["username"] != "juju_database_plain" || p.Bag["password"] == "" {
		t.Errorf("a client without secrets: bag %v", redact(p.Bag))
	}

	// Across models: offer/consume; its own user and database.
	s.Bootstrap("far")
	s.Run("add-model", "remote")
	s.Run("deploy", "-m", remote, cl, "remote-app", "--config", "database=remote")
	s.Run("offer", "remote.remote-app:database", "remote-db")
	s.Run("consume", "-m", server, "far:admin/remote.remote-db")
	s.Run("integrate", "-m", server, "postgresql:database", "remote-db:database")
	s.Run("wait")
	r := connected(t, s, remote, "remote-app/0", "juju_database_remote-db@")
	if out, err := viaURI(s, remote, "remote-app/0", r.Credentials.URIs, "CREATE TABLE far (v int); INSERT INTO far VALUES (7); SELECT v FROM far"); err != nil || !strings.HasSuffix(out, "7") {
		t.Errorf("cross-model write: %q %v", out, err)
	}
	noCredentialsInBags(t, s, remote, "remote-app/0", r.Credentials.Password)
	if out, err := dial(s, server, "app/0", primaryAddr, "remote", r.Credentials.Username, r.Credentials.Password, "SELECT 1"); !rejected(out, err) {
		t.Errorf("another client's machine used the remote client's credentials: %q %v", out, err)
	}

	s.Run("switch", server)

	// A third unit joins read-only-endpoints and the URIs (a new revision of the secret
	// reaches the client); the primary's unit going away moves endpoints to the new
	// primary, and the client follows.
	s.Run("add-unit", "postgresql")
	expectRolesIn(t, s, server, "postgresql", 2)
	third := addressOf(t, s, server, "postgresql/2")
	eventually(t, 2*time.Minute, "the third unit in read-only-endpoints and the URIs", func() bool {
		g := got(t, s, server, "app/0")
		return strings.Contains(g.Bag["read-only-endpoints"], third+":5432") && strings.Contains(g.Credentials.URIs, third+":5432") &&
			g.Credentials.Password == c.Password
	})
	s.Run("remove-unit", primary)
	np, _ := expectRolesIn(t, s, server, "postgresql", 1)
	primary, primaryAddr = np, addressOf(t, s, server, np)
	g = connected(t, s, server, "app/0", "juju_database_app@"+primaryAddr+":5432/app")
	if out, err := viaURI(s, server, "app/0", g.Credentials.URIs, "INSERT INTO kept VALUES ('three'); SELECT count(*) FROM kept"); err != nil || !strings.HasSuffix(out, "3") {
		t.Errorf("write after failover: %q %v", out, err)
	}

	// Removing the relation revokes access (sessions included) and keeps the data.
	s.Run("remove-relation", "postgresql:database", "app:database")
	s.Run("wait")
	eventually(t, time.Minute, "the user disabled", func() bool {
		return psql(s, primary, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'juju_database_app'") == "f"
	})
	if out, err := viaURI(s, server, "app/0", c.URIs, "SELECT 1"); err == nil {
		t.Errorf("access after the relation was removed: %q", out)
	}
	if h := hba(s, server, primary); strings.Contains(h, "juju_database_app") {
		t.Errorf("pg_hba still admits the removed client:\n%s", h)
	}
	if out := psql(s, primary, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"); out != "juju_database_app" {
		t.Errorf("the database was not kept: owner %q", out)
	}
	// Related again under the same name: its data back.
	s.Run("integrate", "postgresql:database", "app:database")
	s.Run("wait")
	again := connected(t, s, server, "app/0", "juju_database_app@"+primaryAddr)
	if out, err := viaURI(s, server, "app/0", again.Credentials.URIs, "SELECT string_agg(v, ',' ORDER BY v) FROM kept"); err != nil || out != "one,three,two" {
		t.Errorf("related again: %q %v", out, err)
	}
}

func leaderOf(t *testing.T, s *simtest.Sim, model string) string {
	t.Helper()
	return s.Leader(model, "postgresql")
}

// noCredentialsInBags fails if the password (or a URI holding it) appears in any bag a
// client unit sees, its own included.
func noCredentialsInBags(t *testing.T, s *simtest.Sim, model, unit, password string) {
	t.Helper()
	for _, r := range s.ShowUnit(model, unit).RelationInfo {
		bags := []map[string]string{r.ApplicationData, r.LocalUnit.Data}
		for _, u := range r.RelatedUnits {
			bags = append(bags, u.Data)
		}
		for _, b := range bags {
			for k, v := range b {
				if strings.Contains(v, password) || k == "username" || k == "password" || k == "uris" || k == "read-only-uris" {
					t.Errorf("%s: credentials in the bag of relation %s: key %s", unit, r.Endpoint, k)
				}
			}
		}
	}
}

// openRules are the pg_hba lines that admit (not reject) a catch-all address.
func openRules(hba string) []string {
	var out []string
	for _, line := range strings.Split(hba, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && (f[3] == "0.0.0.0/0" || f[3] == "::/0") && f[4] != "reject" {
			out = append(out, line)
		}
	}
	return out
}

func redactCreds(c pgclient.Credentials) pgclient.Credentials {
	c.Password = "<redacted>"
	c.URIs, c.ReadOnlyURIs = redactURI(c.URIs), redactURI(c.ReadOnlyURIs)
	return c
}

func redactURI(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "redacted")
	return u.String()
}
