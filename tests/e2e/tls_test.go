package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
	"github.com/pgcharm/postgresql/internal/pki"
)

// writeMachineFile puts data at path on a unit's machine, owned by postgres, mode 0600.
func writeMachineFile(s *simtest.Sim, unit, path string, data []byte) {
	s.T.Helper()
	s.Exec(unit, "sh", "-c", "cat > "+path+" <<'EOF'\n"+string(data)+"EOF\nchown postgres:postgres "+path+" && chmod 600 "+path)
}

// TestStandbyRefusesAnotherCertificate is the attack of issue 15 (Medium 7): a server
// that presents another certificate where the primary should be (a man in the middle,
// or a swapped certificate file, as here) is refused by the standby, which streams
// nothing from it. Replication used sslmode=prefer: any certificate, or none, was
// accepted. Now it is verify-full against the CA the leader made (in the application
// secret), on the primary's peer address; the next hook on the primary puts a
// certificate of the CA back, and the standby streams again.
func TestStandbyRefusesAnotherCertificate(t *testing.T) {
	s, _ := newSim(t, "tls")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	s.Run("wait")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	standby := standbys[0]
	psql(s, primary, "CREATE TABLE t (i int); INSERT INTO t VALUES (1)")
	rows := func() string { out, _ := psqlE(s, standby, "SELECT count(*) FROM t"); return out }
	eventually(t, 30*time.Second, "the first row on the standby", func() bool { return rows() == "1" })
	if out := psql(s, standby, "SELECT status FROM pg_stat_wal_receiver"); out != "streaming" {
		t.Fatalf("standby's WAL receiver before the attack: %q", out)
	}

	// The failover agent wakes the primary's charm when its streaming standbys change (as
	// they do below), and any hook issues a certificate of the CA again: it is stopped for
	// the attack, so that only the standby's verification stands between it and Mallory.
	agent := "postgresql-charm-agent-" + strings.ReplaceAll(primary, "/", "-") + ".service"
	s.Exec(primary, "systemctl", "stop", agent)

	// Mallory's CA issues a certificate for the primary's very address, which the server
	// now presents; the standby reconnects.
	addr := addressOf(t, s, "", primary)
	mallory, err := pki.NewCA("mallory", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := mallory.Issue([]string{addr}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const conf = "/etc/postgresql/15/main"
	writeMachineFile(s, primary, conf+"/juju-server.key", key)
	writeMachineFile(s, primary, conf+"/juju-server.crt", cert)
	psql(s, primary, "SELECT pg_reload_conf()")
	time.Sleep(time.Second)
	served := strings.TrimSpace(s.Exec(primary, "sh", "-c", "openssl s_client -starttls postgres -connect "+addr+
		":5432 </dev/null 2>/dev/null | openssl x509 -noout -issuer"))
	if !strings.Contains(served, "mallory") {
		t.Fatalf("the primary does not serve the swapped certificate: %q", served)
	}
	psql(s, primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
	// Committed locally: with quorum commit the primary would wait for the standby forever.
	psql(s, primary, "SET synchronous_commit = local; INSERT INTO t VALUES (2)")
	time.Sleep(15 * time.Second)
	if got := rows(); got != "1" {
		t.Fatalf("the standby streamed from a server with another CA's certificate: %s rows", got)
	}
	logs := s.Exec(standby, "sh", "-c", "cat /var/log/postgresql/postgresql-15-main.log")
	if !strings.Contains(logs, "certificate verify failed") {
		t.Errorf("the standby's log does not say it refused the certificate:\n%s", lastLines(logs, 20))
	}

	// Any hook on the primary issues a certificate of the CA again.
	s.Exec(primary, "systemctl", "start", agent)
	s.Run("run-hook", primary, "update-status")
	eventually(t, 60*time.Second, "the standby to stream again", func() bool { return rows() == "2" })
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withQuery sets a query parameter of a libpq URI.
func withQuery(t *testing.T, uri, key, value string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// dialMode is dial with an sslmode.
func dialMode(s *simtest.Sim, model, unit, host, db, user, password, mode, sql string) (string, error) {
	conn := "host=" + host + " port=5432 dbname=" + db + " user=" + user + " sslmode=" + mode + " connect_timeout=5"
	out, stderr, err := s.RunE("exec", "-m", model, unit, "--", "env", "PGPASSWORD="+password, "psql", conn, "-XAtc", sql)
	return strings.TrimSpace(out + stderr), err
}

// TestTLSRequired: with tls_required=true a client connecting without TLS is refused, on
// the db and the database relation alike, and accepted over TLS. The connection strings
// and URIs say sslmode=require; the database relation gets tls=True and tls-ca in the tls
// secret (secret-tls) as data_interfaces asks, and a client verifying the server against
// tls-ca on the relation's address (verify-full) connects. extra_pg_auth that would admit
// clients in the clear blocks the unit naming extra_pg_auth and tls_required, and never
// reaches pg_hba; a hostssl line is taken. With tls_required=false clients without TLS
// are admitted again.
func TestTLSRequired(t *testing.T) {
	s, _ := newSim(t, "tlsreq")
	const m, unit = "lab:tlsreq", "postgresql/0"
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--config", "tls_required=true")
	s.Run("deploy", databaseClientCharm(t), "app")
	s.Run("deploy", clientCharm(t), "legacy")
	s.Run("integrate", "postgresql:database", "app:database")
	s.Run("integrate", "postgresql:db", "legacy:db")
	s.Run("wait")
	addr := addressOf(t, s, m, unit)
	const sslNow = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

	// The database relation.
	g := connected(t, s, m, "app/0", "juju_database_app@"+addr+":5432/app")
	c := g.Credentials
	if !strings.Contains(c.URIs, "sslmode=require") || !strings.Contains(c.ReadOnlyURIs, "sslmode=require") {
		t.Errorf("uris without sslmode=require: %s, %s", redactURI(c.URIs), redactURI(c.ReadOnlyURIs))
	}
	if !strings.HasPrefix(g.Bag["secret-tls"], "secret:") || g.Bag["tls"] != "" || g.Bag["tls-ca"] != "" {
		t.Fatalf("the server's bag: secret-tls %q, tls %q, tls-ca %q", g.Bag["secret-tls"], g.Bag["tls"], g.Bag["tls-ca"])
	}
	var tlsSecret map[string]string
	if err := json.Unmarshal([]byte(s.Run("exec", "-m", m, "app/0", "--", "secret-get", g.Bag["secret-tls"], "--format=json")), &tlsSecret); err != nil {
		t.Fatal(err)
	}
	ca := s.Exec(unit, "cat", "/etc/postgresql-common/juju-charm-ca.crt")
	if tlsSecret["tls"] != "True" || tlsSecret["tls-ca"] != ca || !strings.HasPrefix(ca, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("the tls secret %v; the server's CA %q", tlsSecret, ca)
	}
	writeMachineFile(s, "app/0", "/root/ca.crt", []byte(ca))
	verified := withQuery(t, withQuery(t, c.URIs, "sslmode", "verify-full"), "sslrootcert", "/root/ca.crt")
	if out, err := viaURI(s, m, "app/0", verified, sslNow); err != nil || out != "t" {
		t.Errorf("verify-full against tls-ca: %q %v", out, err)
	}
	if out, err := viaURI(s, m, "app/0", withQuery(t, c.URIs, "sslmode", "disable"), "SELECT 1"); !rejected(out, err) {
		t.Errorf("a database client without TLS: %q %v, want refused by pg_hba", out, err)
	}

	// The db relation.
	pub := served(t, s, m, unit, "db", "legacy")
	if !strings.Contains(pub["master"], "sslmode=require") {
		t.Errorf("master %q lacks sslmode=require", redactConn(pub["master"]))
	}
	if out, err := svc(s, m, "legacy/0", "db_master", sslNow); err != nil || out != "t" {
		t.Errorf("psql service=db_master: %q %v", out, err)
	}
	noTLS := func() (string, error) {
		return dialMode(s, m, "legacy/0", addr, pub["database"], pub["user"], pub["password"], "disable", "SELECT 1")
	}
	if out, err := noTLS(); !rejected(out, err) {
		t.Errorf("a db client without TLS: %q %v, want refused by pg_hba", out, err)
	}
	if out, err := dialMode(s, m, "legacy/0", addr, pub["database"], pub["user"], pub["password"], "require", sslNow); err != nil || out != "t" {
		t.Errorf("a db client with TLS: %q %v", out, err)
	}

	// extra_pg_auth only tightens.
	legacyAddr := addressOf(t, s, m, "legacy/0")
	s.Run("config", "postgresql", "extra_pg_auth=host all all "+legacyAddr+"/32 scram-sha-256")
	s.Run("wait")
	if st, msg := unitStatus(s, m, unit); st != "blocked" || !strings.Contains(msg, "extra_pg_auth") || !strings.Contains(msg, "tls_required") {
		t.Errorf("extra_pg_auth admitting clients without TLS: %s %q, want blocked naming extra_pg_auth and tls_required", st, msg)
	}
	if out, err := noTLS(); !rejected(out, err) {
		t.Errorf("with the refused extra_pg_auth, a client without TLS: %q %v", out, err)
	}
	s.Run("config", "postgresql", "extra_pg_auth=hostssl all all "+legacyAddr+"/32 scram-sha-256")
	s.Run("wait")
	if st, msg := unitStatus(s, m, unit); st != "active" {
		t.Errorf("with a hostssl extra_pg_auth: %s %q", st, msg)
	}
	if h := hba(s, m, unit); !strings.Contains(h, "hostssl all all "+legacyAddr+"/32 scram-sha-256") {
		t.Errorf("pg_hba lacks the hostssl line:\n%s", h)
	}

	// Off again: clients without TLS are admitted.
	s.Run("config", "postgresql", "tls_required=false", "extra_pg_auth=")
	s.Run("wait")
	if out, err := noTLS(); err != nil || out != "1" {
		t.Errorf("tls_required=false, a db client without TLS: %q %v", out, err)
	}
	if pub := served(t, s, m, unit, "db", "legacy"); strings.Contains(pub["master"], "sslmode") {
		t.Errorf("tls_required=false, master %q", redactConn(pub["master"]))
	}
}

// TestCrossModelCertificate: a client in another model (offer/consume) reaches the server
// at its ingress address on that relation (the public address across models), which the
// server's certificate names: the client verifies the server against tls-ca there
// (sslmode=verify-full). The certificate names the unit's ingress address on every
// relation, as network-get -r gives it.
func TestCrossModelCertificate(t *testing.T) {
	s, _ := newSim(t, "server")
	const server, remote, unit = "lab:server", "far:remote", "postgresql/0"
	s.Run("deploy", postgresqlCharm(t), "postgresql")
	s.Bootstrap("far")
	s.Run("add-model", "remote")
	s.Run("deploy", "-m", remote, databaseClientCharm(t), "remote-app", "--config", "database=remote")
	s.Run("offer", "remote.remote-app:database", "remote-db")
	s.Run("consume", "-m", server, "far:admin/remote.remote-db")
	sans := func() string {
		return s.Run("exec", "-m", server, unit, "--", "sh", "-c", "openssl x509 -noout -ext subjectAltName -in /etc/postgresql/15/main/juju-server.crt")
	}
	private := addressOf(t, s, server, unit)
	public := s.Status(server).Applications["postgresql"].Units[unit].PublicAddress
	if got := sans(); !strings.Contains(got, "IP Address:"+private) || !strings.Contains(got, "IP Address:"+public) {
		t.Errorf("the certificate before any relation does not name the private (%s) and public (%s) addresses: %s", private, public, got)
	}
	s.Run("integrate", "-m", server, "postgresql:database", "remote-db:database")
	s.Run("wait")
	g := connected(t, s, remote, "remote-app/0", "juju_database_remote-db@")
	host, _, _ := strings.Cut(g.Bag["endpoints"], ":")
	rel := relationID(t, s, server, unit, "database")
	ingress := strings.TrimSpace(s.Run("exec", "-m", server, unit, "--", "network-get", "database", "-r", rel, "--ingress-address"))
	if host == "" || host != ingress {
		t.Fatalf("endpoints %q, the unit's ingress address on %s %q", g.Bag["endpoints"], rel, ingress)
	}
	names := sans()
	for _, a := range []string{ingress, private} {
		if !strings.Contains(names, "IP Address:"+a) {
			t.Errorf("the server certificate does not name %s:\n%s", a, names)
		}
	}
	ca := s.Run("exec", "-m", server, unit, "--", "cat", "/etc/postgresql-common/juju-charm-ca.crt")
	s.Run("exec", "-m", remote, "remote-app/0", "--", "sh", "-c", "cat > /root/ca.crt <<'EOF'\n"+ca+"EOF")
	verified := withQuery(t, withQuery(t, g.Credentials.URIs, "sslmode", "verify-full"), "sslrootcert", "/root/ca.crt")
	if out, err := viaURI(s, remote, "remote-app/0", verified, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); err != nil || out != "t" {
		t.Errorf("verify-full across models at %s: %q %v", host, out, err)
	}
}

// TestCAAddedToAnOlderApplication: an application deployed before the charm made a CA
// (its secret holds only the replication password) gets one from the leader's next hook;
// every unit then issues its certificate from it and replication, verified against it,
// carries on. The same path replaces a CA that was removed from the secret.
func TestCAAddedToAnOlderApplication(t *testing.T) {
	s, _ := newSim(t, "upgrade")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	s.Run("wait")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	leader := s.Leader("", "postgresql")
	fingerprint := func() string {
		return strings.TrimSpace(s.Exec(leader, "sh", "-c", "relation-get -r $(relation-ids replication) --app ca "+leader))
	}
	before := fingerprint()
	if len(before) != 16 {
		t.Fatalf("the CA's fingerprint in the application bag: %q", before)
	}
	var content map[string]string
	if err := json.Unmarshal([]byte(s.Exec(leader, "secret-get", "--label", "postgresql-charm", "--format=json")), &content); err != nil {
		t.Fatal(err)
	}
	if content["ca-cert"] == "" || content["ca-key"] == "" || content["replication"] == "" {
		t.Fatalf("the application secret holds %d keys", len(content))
	}
	id := strings.TrimSpace(s.Exec(leader, "sh", "-c", "relation-get -r $(relation-ids replication) --app secret-id "+leader))
	// As an older charm left it: the password only.
	s.Exec(leader, "secret-set", id, "replication="+content["replication"])
	s.Run("run-hook", leader, "update-status")
	s.Run("wait")
	after := fingerprint()
	if after == before || len(after) != 16 {
		t.Fatalf("the CA's fingerprint after the leader's hook: %q (was %q)", after, before)
	}
	if err := json.Unmarshal([]byte(s.Exec(leader, "secret-get", "--label", "postgresql-charm", "--format=json")), &content); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{primary, standbys[0]} {
		out, _, err := s.RunE("exec", u, "--", "sh", "-c", "cat /etc/postgresql-common/juju-charm-ca.crt && "+
			"openssl verify -CAfile /etc/postgresql-common/juju-charm-ca.crt /etc/postgresql/15/main/juju-server.crt")
		if err != nil || !strings.HasPrefix(out, content["ca-cert"]) || !strings.Contains(out, ": OK") {
			t.Errorf("%s: its certificate against the new CA: %v\n%s", u, err, out)
		}
	}
	// The CA's key is in the secret only: no file on any machine holds it, and the server's
	// key is postgres's alone.
	keyLine := strings.Split(strings.TrimSpace(content["ca-key"]), "\n")[1]
	for _, u := range []string{primary, standbys[0]} {
		// (Test* under /tmp is jujusim's own state on the host, the controller's, which
		// its machines see.)
		if out, _, _ := s.RunE("exec", u, "--", "grep", "-rlF", "--exclude-dir=Test*", "--", keyLine, "/etc", "/var", "/tmp", "/root", "/srv", "/home"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: files holding the CA's key: %s", u, out)
		}
		if out := strings.TrimSpace(s.Exec(u, "stat", "-c", "%U %a", "/etc/postgresql/15/main/juju-server.key")); out != "postgres 600" {
			t.Errorf("%s: the server key is %s", u, out)
		}
	}
	psql(s, primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
	psql(s, primary, "SET synchronous_commit = local; CREATE TABLE t (i int); INSERT INTO t VALUES (1)")
	eventually(t, 60*time.Second, "the standby to stream with the new CA", func() bool {
		out, err := psqlE(s, standbys[0], "SELECT count(*) FROM t")
		return err == nil && out == "1"
	})
}
