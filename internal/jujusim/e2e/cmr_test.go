package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestCrossModel follows the seed walkthrough's shape: the client model offers, the server
// model (on another controller) consumes under a SAAS name, and the relation is anonymised
// on the offering side only; addresses and egress subnets cross over. A cross-model relation
// uses each machine's public address as ingress (apiserver/facades/agent/uniter/networkinfo.go
// maybeGetUnitAddress), a local one the private address; egress subnets come from
// integrate --via, then model config egress-subnets, then ingress/32.
func TestCrossModel(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("sydney")
	s.Run("add-model", "client")
	s.Run("deploy", ch, "client")
	s.Run("model-config", "egress-subnets=192.0.2.0/24")
	out := s.Run("offer", "client.client:backend", "client-db")
	if !strings.Contains(out, `available at "admin/client.client-db"`) {
		t.Errorf("offer output: %s", out)
	}
	s.Bootstrap("singapore")
	s.Run("add-model", "server")
	s.Run("deploy", ch, "server", "-n", "2")
	s.Run("consume", "sydney:admin/client.client-db")
	s.Run("add-relation", "server:db", "client-db:backend")
	s.Run("wait")

	server := s.Status("singapore:server")
	client := s.Status("sydney:client")
	if _, ok := server.SAAS["client-db"]; !ok {
		t.Errorf("server status lacks the SAAS: %+v", server.SAAS)
	}
	clientAddr := client.Applications["client"].Units["client/0"].Address
	srvAddr := server.Applications["server"].Units["server/0"].Address
	if clientAddr[:strings.LastIndexByte(clientAddr, '.')] == srvAddr[:strings.LastIndexByte(srvAddr, '.')] {
		t.Errorf("controllers should have different subnets: %s %s", clientAddr, srvAddr)
	}

	// Each unit's own view (network-get): public on the cross-model relation, private on
	// its peer relation.
	publicOf := func(model, unit, endpoint, private string) string {
		t.Helper()
		var pub string
		for _, r := range records(t, s, model, unit) {
			if r.Env["JUJU_RELATION"] != endpoint || len(r.Ingress) == 0 {
				continue
			}
			pub = r.Ingress[0]
		}
		if pub == "" || pub == private || !strings.HasPrefix(pub, "198.18.") {
			t.Errorf("%s: network-get %s ingress %q, want a public address (private %s)", unit, endpoint, pub, private)
		}
		return pub
	}
	clientPub := publicOf("sydney:client", "client/0", "backend", clientAddr)
	srvPub := publicOf("singapore:server", "server/0", "db", srvAddr)
	// juju status shows the public address (apiserver/facades/client/client/status.go: the
	// unit's public address; the machine's dns-name and all its ip-addresses).
	if u := server.Applications["server"].Units["server/0"]; u.PublicAddress != srvPub ||
		strings.Join(server.Machines[u.Machine].IPAddresses, ",") != srvAddr+","+srvPub || server.Machines[u.Machine].DNSName != srvPub {
		t.Errorf("server/0 in status: public-address %q, machine %+v (private %s, public %s)", u.PublicAddress, server.Machines[u.Machine], srvAddr, srvPub)
	}
	for _, r := range records(t, s, "singapore:server", "server/0") {
		if r.Env["JUJU_RELATION"] == "peers" && (len(r.Ingress) == 0 || r.Ingress[0] != srvAddr || r.Egress[0] != srvAddr+"/32") {
			t.Errorf("server/0 %s: a local relation uses the private address: %v %v", r.Hook, r.Ingress, r.Egress)
		}
	}

	// Consuming side: the SAAS name.
	srec := records(t, s, "singapore:server", "server/0")
	joined := find(srec, "db-relation-changed")
	if len(joined) == 0 {
		t.Fatalf("server/0 saw no db-relation-changed: %v", hooks(srec))
	}
	last := joined[len(joined)-1]
	if last.Env["JUJU_REMOTE_APP"] != "client-db" || (last.Env["JUJU_REMOTE_UNIT"] != "" && last.Env["JUJU_REMOTE_UNIT"] != "client-db/0") {
		t.Errorf("server side names: %v", last.Env)
	}
	var remote map[string]string
	for _, r := range srec {
		if r.Env["JUJU_REMOTE_UNIT"] == "client-db/0" && r.Remote != nil {
			remote = r.Remote
		}
	}
	if remote["ingress-address"] != clientPub || remote["private-address"] != clientPub || remote["egress-subnets"] != "192.0.2.0/24" || remote["from"] != "client/0" {
		t.Errorf("client's data seen by the server: %v (client at %s)", remote, clientPub)
	}
	if strings.Join(last.Members, ",") != "client-db/0" {
		t.Errorf("relation-list on server: %v", last.Members)
	}

	// Offering side: remote-<hex>.
	crec := records(t, s, "sydney:client", "client/0")
	re := regexp.MustCompile(`^remote-[0-9a-f]{32}$`)
	var sawServer bool
	for _, r := range crec {
		if !strings.HasPrefix(r.Hook, "backend-relation-") {
			continue
		}
		if !re.MatchString(r.Env["JUJU_REMOTE_APP"]) || r.RemoteApp != r.Env["JUJU_REMOTE_APP"] {
			t.Errorf("client side should see an anonymised app: %v (relation-list --app %q)", r.Env, r.RemoteApp)
		}
		if ru := r.Env["JUJU_REMOTE_UNIT"]; ru != "" && !regexp.MustCompile(`^remote-[0-9a-f]{32}/[01]$`).MatchString(ru) {
			t.Errorf("anonymised unit: %q", ru)
		}
		if r.Remote["ingress-address"] == srvPub {
			sawServer = true
			if r.Remote["egress-subnets"] != srvPub+"/32" {
				t.Errorf("server egress seen by client: %v", r.Remote)
			}
		}
		if len(r.Egress) != 1 || r.Egress[0] != "192.0.2.0/24" {
			t.Errorf("network-get egress on the client must follow model config: %v", r.Egress)
		}
		if r.Env["JUJU_RELATION_ID"] == "" {
			t.Errorf("no relation id: %v", r.Env)
		}
	}
	if !sawServer {
		t.Errorf("client never saw server/0's public address %s", srvPub)
	}
	if last := crec[len(crec)-1]; len(last.Members) != 2 {
		t.Errorf("client relation-list: %v", last.Members)
	}

	// Machines of different controllers reach each other with their own addresses, private
	// and public.
	checkSourceAddress(t, s, "sydney:client", "client/0", "singapore:server", "server/1", clientAddr)
	checkPublicSource(t, s, "sydney:client", "client/0", clientPub, "singapore:server", "server/0", srvPub)
	// ... and machines of one controller too.
	checkSourceAddress(t, s, "singapore:server", "server/0", "singapore:server", "server/1", srvAddr)

	// Tearing the relation down: departed then broken on both sides.
	s.Run("remove-relation", "-m", "singapore:server", "server", "client-db")
	crec = records(t, s, "sydney:client", "client/0")
	hs := hooks(crec)
	if hs[len(hs)-1] != "backend-relation-broken" || !strings.HasPrefix(hs[len(hs)-2], "backend-relation-departed(remote-") {
		t.Errorf("client teardown: %v", hs[len(hs)-4:])
	}
	if b := crec[len(crec)-1]; len(b.Members) != 0 {
		t.Errorf("relation-list during broken: %v", b.Members)
	}

	// Destroying the consuming model departs and breaks the relation on the offering side.
	// Related again --via: the consumer's units' egress subnets are the relation's networks.
	n := len(records(t, s, "sydney:client", "client/0"))
	s.Run("add-relation", "-m", "singapore:server", "server:db", "client-db:backend", "--via", "203.0.113.0/24")
	via := false
	for _, r := range records(t, s, "sydney:client", "client/0")[n:] {
		if r.Remote["ingress-address"] == srvPub {
			via = true
			if r.Remote["egress-subnets"] != "203.0.113.0/24" {
				t.Errorf("server egress with --via: %v", r.Remote)
			}
		}
	}
	if !via {
		t.Errorf("client never saw server/0 after integrate --via")
	}
	s.Run("destroy-model", "singapore:server")
	crec = records(t, s, "sydney:client", "client/0")
	hs = hooks(crec)
	tail := strings.Join(hs[len(hs)-3:], " ")
	if !strings.HasSuffix(tail, "backend-relation-broken") || strings.Count(tail, "backend-relation-departed(remote-") != 2 {
		t.Errorf("client after the server model went away: %v", hs[len(hs)-3:])
	}
	if st := s.Status("sydney:client"); st.Applications["client"].Units["client/0"].Workload.Current != "active" {
		t.Errorf("client status: %+v", st.Applications["client"])
	}
}

// checkSourceAddress starts a listener in one unit's machine and connects from another's:
// the listener must see the client unit's own address.
func checkSourceAddress(t *testing.T, s *simtest.Sim, serverModel, serverUnit, clientModel, clientUnit, want string) {
	t.Helper()
	st := s.Status(serverModel)
	var addr string
	for _, app := range st.Applications {
		if u, ok := app.Units[serverUnit]; ok {
			addr = u.Address
		}
	}
	_ = clientModel
	script := fmt.Sprintf("nohup %s netcheck-serve %s:7070 1 >/root/netcheck.out 2>&1 </dev/null &", s.Bin, addr)
	s.Run("exec", "-m", serverModel, serverUnit, "--", "sh", "-c", script)
	var out string
	var err error
	for i := 0; i < 50; i++ {
		out, _, err = s.RunE("exec", "-m", clientModel, clientUnit, "--", s.Bin, "netcheck-dial", addr+":7070")
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, clientUnit, err)
	}
	_ = out
	var clientAddr string
	for _, app := range s.Status(clientModel).Applications {
		if u, ok := app.Units[clientUnit]; ok {
			clientAddr = u.Address
		}
	}
	if got := strings.TrimSpace(out); got != clientAddr {
		t.Errorf("%s saw %s connect from %q, want its address %s", serverUnit, clientUnit, got, clientAddr)
	}
	_ = want
}

// TestKillAllLeavesNothing checks that kill-controller --all removes machines' processes,
// namespaces, mounts and bridges.
func TestKillAllLeavesNothing(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("a")
	s.Bootstrap("b")
	s.Run("deploy", ch, "rec", "-n", "2", "--storage", "data=1G")
	s.Run("exec", "rec/0", "--", "sh", "-c", "nohup sleep 600 >/dev/null 2>&1 </dev/null & echo $! > /root/sleep.pid")
	pidsOut, err := exec.Command("pgrep", "-f", "sleep 600").Output()
	if err != nil {
		t.Fatalf("the sleeper is not running: %v", err)
	}
	s.Run("kill-controller", "--all")
	time.Sleep(200 * time.Millisecond)
	for _, p := range strings.Fields(string(pidsOut)) {
		if _, err := os.Stat("/proc/" + p); err == nil {
			cmdline, _ := os.ReadFile("/proc/" + p + "/cmdline")
			if strings.Contains(string(cmdline), "sleep") {
				t.Errorf("process %s (%q) survived", p, cmdline)
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), s.Home) {
		t.Errorf("mounts under %s remain:\n%s", s.Home, mounts)
	}
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	st := s.Status
	_ = st
	prefix := bridgePrefix(t, s)
	if strings.Contains(string(links), prefix) {
		t.Errorf("links with prefix %s remain:\n%s", prefix, links)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Home, "machines")); len(entries) != 0 {
		t.Errorf("machine dirs remain: %v", entries)
	}
}

// bridgePrefix reads the bridge names jujusim chose from its state file.
func bridgePrefix(t *testing.T, s *simtest.Sim) string {
	data, err := os.ReadFile(filepath.Join(s.Home, "bridge-prefix"))
	if err == nil {
		return strings.TrimSpace(string(data))
	}
	out, _, _ := s.RunE("controllers")
	_ = out
	t.Fatalf("no bridge-prefix file in %s: %v", s.Home, err)
	return ""
}

// checkPublicSource connects from one unit's public address to another's: the listener
// must see the client's public address.
func checkPublicSource(t *testing.T, s *simtest.Sim, clientModel, clientUnit, clientPub, serverModel, serverUnit, serverPub string) {
	t.Helper()
	script := fmt.Sprintf("nohup %s netcheck-serve %s:7071 1 >/root/netcheck-public.out 2>&1 </dev/null &", s.Bin, serverPub)
	s.Run("exec", "-m", serverModel, serverUnit, "--", "sh", "-c", script)
	var out string
	var err error
	for i := 0; i < 50; i++ {
		if out, _, err = s.RunE("exec", "-m", clientModel, clientUnit, "--", s.Bin, "netcheck-dial", serverPub+":7071"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial %s from %s: %v", serverPub, clientUnit, err)
	}
	if got := strings.TrimSpace(out); got != clientPub {
		t.Errorf("%s saw %s connect to its public address from %q, want %s", serverUnit, clientUnit, got, clientPub)
	}
}
