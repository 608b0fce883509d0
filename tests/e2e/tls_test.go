package e2e

import (
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
	psql(s, primary, "INSERT INTO t VALUES (2)")
	time.Sleep(15 * time.Second)
	if got := rows(); got != "1" {
		t.Fatalf("the standby streamed from a server with another CA's certificate: %s rows", got)
	}
	logs := s.Exec(standby, "sh", "-c", "cat /var/log/postgresql/postgresql-15-main.log")
	if !strings.Contains(logs, "certificate verify failed") {
		t.Errorf("the standby's log does not say it refused the certificate:\n%s", lastLines(logs, 20))
	}

	// Any hook on the primary issues a certificate of the CA again.
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
