package machine

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsEnv marks the copy of the test binary that runs in a network namespace of its own, where
// the test may set the FORWARD policy without touching the host's.
const netnsEnv = "JUJUSIM_MACHINE_TEST_OWN_NETNS"

// A host whose iptables FORWARD policy is DROP (as Docker and ufw leave it) must still route
// between our machines; EnsureNetwork adds accept rules for its subnet.
func TestForwardPolicyDrop(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed, so nothing can drop forwarded traffic (tests/setup/jujusim.sh installs it)")
	}
	if os.Getenv(netnsEnv) == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("unshare", "--net", exe, "-test.run=^TestForwardPolicyDrop$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a network namespace of its own:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("--- PASS: TestForwardPolicyDrop")) {
			t.Skip("skipped in its own network namespace (see above)")
		}
		return
	}
	if out, err := exec.Command("iptables", "-w", "-S", "FORWARD").CombinedOutput(); err != nil {
		t.Skipf("iptables cannot work here: %v %s", err, out)
	}
	if out, err := exec.Command("iptables", "-w", "-P", "FORWARD", "DROP").CombinedOutput(); err != nil {
		t.Fatalf("set FORWARD policy: %v %s", err, out)
	}
	e := newEnv(t)
	n1, n2 := e.network(), e.network()
	a := e.machine("fa", n1, 10)
	c := e.machine("fc", n2, 10)
	listen := netip.AddrPortFrom(a.Addr.Addr(), 7070).String()
	serve(t, a, listen)
	if got, err := dialFrom(c, listen); err != nil || got != c.Addr.Addr().String() {
		t.Fatalf("c -> a across bridges with FORWARD policy DROP: %q %v", got, err)
	}
	// Without our rules the same connection fails: the test above can fail.
	if err := removeForwardRules(context.Background(), func(b string) bool { return strings.HasPrefix(b, e.prefix) }); err != nil {
		t.Fatal(err)
	}
	if got, err := dialFrom(c, listen); err == nil {
		t.Fatalf("c -> a got through without accept rules (%q): the policy is not in force", got)
	}
	for _, bridge := range []string{n1, n2} {
		if _, err := EnsureNetwork(context.Background(), bridge, e.subnet[bridge]); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := dialFrom(c, listen); err != nil || got != c.Addr.Addr().String() {
		t.Fatalf("c -> a after EnsureNetwork restored the rules: %q %v", got, err)
	}
	if err := CleanupAll(context.Background(), e.root, e.prefix); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("iptables", "-w", "-S", "FORWARD").CombinedOutput()
	if strings.Contains(string(out), firewallTag) {
		t.Errorf("rules left after cleanup:\n%s", out)
	}
}
