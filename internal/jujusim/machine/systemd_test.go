package machine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// hostSystemdEnv marks the copy of the test binary that runs in a mount namespace of its own in
// which /run/systemd/system exists, as on a host booted with systemd.
const hostSystemdEnv = "JUJUSIM_MACHINE_TEST_FAKE_SYSTEMD"

// On a systemd host, pg_ctlcluster would hand over to systemctl when it sees /run/systemd/system;
// machines hide it, so PostgreSQL starts the way it does without systemd.
func TestHidesSystemd(t *testing.T) {
	needRoot(t)
	if os.Getenv(hostSystemdEnv) == "" {
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			t.Log("this host runs systemd; simulating it anyway in a mount namespace of our own")
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		script := `set -e
mkdir -p /run/systemd
mount -t tmpfs jujusim-test-systemd /run/systemd
mkdir /run/systemd/system
exec "$0" -test.run='^TestHidesSystemd$' -test.count=1 -test.v`
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, exe)
		cmd.Env = append(os.Environ(), hostSystemdEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a mount namespace with /run/systemd/system:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("--- PASS: TestHidesSystemd")) {
			t.Skip("skipped in its own mount namespace (see above)")
		}
		return
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Fatalf("the simulated systemd host lacks /run/systemd/system: %v", err)
	}
	e := newEnv(t)
	a := e.machine("sd", e.network(), 10)
	if out, err := shErr(a, "test ! -e /run/systemd/system"); err != nil {
		t.Fatalf("/run/systemd/system is visible in the machine: %s", out)
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Log("PostgreSQL is not installed: not starting a cluster")
		return
	}
	v := pgVersion(t)
	sh(t, a, fmt.Sprintf("pg_createcluster %[1]s main >/dev/null && pg_ctlcluster %[1]s main start", v))
	if got := sh(t, a, "runuser -u postgres -- psql -Atc 'select 1'"); got != "1" {
		t.Errorf("cluster started in the machine answers %q", got)
	}
}
