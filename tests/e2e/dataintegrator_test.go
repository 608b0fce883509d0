package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDataIntegrator runs Canonical's own data-integrator charm (ops, Python,
// unmodified; data_interfaces LIBPATCH 46) against the database relation: its
// get-credentials action returns working credentials, used from its machine, and
// refused from an unrelated one. The charm is not part of this repository: point
// DATA_INTEGRATOR_CHARM at a charm directory laid out as charmcraft packs it (the
// repository's files, ops in venv/, a dispatch running src/charm.py with
// PYTHONPATH=lib:venv); its machines need python3, python3-yaml and python3-websocket.
func TestDataIntegrator(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	dir := os.Getenv("DATA_INTEGRATOR_CHARM")
	if dir == "" {
		t.Skip("DATA_INTEGRATOR_CHARM is not set: no data-integrator charm to deploy (see the test's comment)")
	}
	s, _ := newSim(t, "di")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2")
	s.Run("deploy", dir, "data-integrator", "--config", "database-name=reports")
	s.Run("integrate", "postgresql:database", "data-integrator:postgresql")
	s.Run("wait")
	primary, _ := expectRoles(t, s, "postgresql", 1)
	res := s.RunAction("data-integrator/0", "get-credentials")
	if res.Status != "completed" {
		t.Fatalf("get-credentials: %+v", res)
	}
	raw, _ := json.Marshal(res.Results["postgresql"])
	var creds map[string]string
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatalf("get-credentials results: %v", err)
	}
	if creds["username"] != "juju_database_data-integrator" || creds["database"] != "reports" ||
		creds["endpoints"] != addressOf(t, s, "", primary)+":5432" || creds["uris"] == "" {
		t.Fatalf("get-credentials: %v", redact(creds))
	}
	if out, err := viaURI(s, "", "data-integrator/0", creds["uris"], "CREATE TABLE t (v int); INSERT INTO t VALUES (42); SELECT current_user, v FROM t"); err != nil ||
		!strings.HasSuffix(out, "juju_database_data-integrator|42") {
		t.Errorf("from data-integrator's machine: %q %v", out, err)
	}
	s.Run("deploy", dir, "stranger", "--config", "database-name=reports")
	if out, err := dial(s, "", "stranger/0", addressOf(t, s, "", primary), "reports", creds["username"], creds["password"], "SELECT 1"); !rejected(out, err) {
		t.Errorf("an unrelated machine used data-integrator's credentials: %q %v", out, err)
	}
	noCredentialsInBags(t, s, "", "data-integrator/0", creds["password"])
}
