package machine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestCheckSubnetFree(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	err := CheckSubnetFree(netip.MustParsePrefix("127.0.0.0/24"))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1/8") || !strings.Contains(err.Error(), "interface lo") {
		t.Errorf("loopback subnet: got %v, want a clash naming 127.0.0.1/8 on lo", err)
	}
	links, err := listLinks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, l := range links {
		if l.kind() == "bridge" && len(l.inet()) == 1 {
			continue // possibly a jujusim network, which may be checked again by design
		}
		for _, a := range l.inet() {
			if a.Addr().IsLoopback() || a.Bits() < 8 || a.Bits() > 29 {
				continue
			}
			// e.g. 192.0.2.0/24 on eth0
			err := CheckSubnetFree(a.Masked())
			if err == nil || !strings.Contains(err.Error(), "interface "+name) {
				t.Errorf("subnet %s of %s: got %v, want a clash naming %s", a.Masked(), name, err, name)
			}
			checked++
		}
	}
	t.Logf("checked %d host subnets", checked)
	for _, bad := range []string{"fd00:1::/64", "10.231.0.0/30", "10.0.0.0/7"} {
		if err := CheckSubnetFree(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("subnet %s accepted, want refused", bad)
		}
	}
}

func TestMachines(t *testing.T) {
	e := newEnv(t)
	n1, n2 := e.network(), e.network()
	a := e.machine("a", n1, 10)
	b := e.machine("b", n1, 11)
	c := e.machine("c", n2, 10)
	all := []*Machine{a, b, c}

	t.Run("identity", func(t *testing.T) {
		seen := map[string]bool{}
		for _, m := range all {
			if got := sh(t, m, "cat /proc/sys/kernel/hostname"); got != m.Hostname {
				t.Errorf("hostname in %s: %q", m.Hostname, got)
			}
			out := sh(t, m, "ip -4 -o addr show dev eth0")
			if !strings.Contains(out, " "+m.Addr.String()+" ") {
				t.Errorf("eth0 of %s lacks %s: %s", m.Hostname, m.Addr, out)
			}
			if got := sh(t, m, "getent ahostsv4 "+m.Hostname+" | head -n 1"); !strings.HasPrefix(got, m.Addr.Addr().String()+" ") {
				t.Errorf("%s resolves to %q in itself", m.Hostname, got)
			}
			if !strings.Contains(sh(t, m, "ip -o link show dev eth0"), "link/ether "+MAC(m.Addr.Addr())+" ") {
				t.Errorf("eth0 of %s does not have MAC %s", m.Hostname, MAC(m.Addr.Addr()))
			}
			if seen[m.Addr.String()] {
				t.Errorf("address %s used twice", m.Addr)
			}
			seen[m.Addr.String()] = true
			if out := sh(t, m, "ip route show default"); !strings.Contains(out, "via "+m.Gateway.String()) {
				t.Errorf("default route of %s: %q", m.Hostname, out)
			}
			// Machines must not hold other machines' namespaces (that would keep them alive).
			if out := sh(t, m, "grep -c ' - nsfs ' /proc/self/mountinfo || true"); out != "0" {
				t.Errorf("%s mounts %s namespace files", m.Hostname, out)
			}
		}
	})

	t.Run("peer addresses", func(t *testing.T) {
		listen := netip.AddrPortFrom(a.Addr.Addr(), 7070).String()
		serve(t, a, listen)
		dial := func(from *Machine) (string, error) { return dialFrom(from, listen) }
		for _, tc := range []struct {
			from *Machine
			want netip.Addr
		}{
			{b, b.Addr.Addr()}, // same bridge
			{c, c.Addr.Addr()}, // other controller, routed by the host
			{nil, e.hosts[n1]}, // the host, from its side of a's bridge
		} {
			got, err := dial(tc.from)
			name := "host"
			if tc.from != nil {
				name = tc.from.Hostname
			}
			if err != nil {
				t.Errorf("dial a from %s: %v: %s", name, err, got)
			} else if got != tc.want.String() {
				t.Errorf("a saw %s connect from %s, want %s", name, got, tc.want)
			}
		}
	})

	t.Run("confined to the host", func(t *testing.T) {
		// Route lookups only: nothing is sent. 198.51.100.1 is a documentation address that the
		// host's default route would carry away.
		out, err := exec.Command("ip", "route", "get", "198.51.100.1", "from", c.Addr.Addr().String(), "iif", n2).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unreachable") {
			t.Errorf("a machine's packet to the outside would be routed: %v %s", err, out)
		}
		out, err = exec.Command("ip", "route", "get", a.Addr.Addr().String(), "from", c.Addr.Addr().String(), "iif", n2).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "dev "+n1) {
			t.Errorf("c's packet to a is not routed onto %s: %v %s", n1, err, out)
		}
	})

	t.Run("private directories", func(t *testing.T) {
		marker := fmt.Sprintf("jujusim-test-%d", os.Getpid())
		sh(t, a, "echo hello > /var/lib/postgresql/"+marker+" && echo hello > /dev/shm/"+marker)
		for _, p := range []string{"/var/lib/postgresql/" + marker, "/dev/shm/" + marker} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file written in a at %s is visible on the host (%v)", p, err)
			}
			if out, err := shErr(b, "test ! -e "+p); err != nil {
				t.Errorf("file written in a at %s is visible in b: %v %s", p, err, out)
			}
		}
		if got := sh(t, a, "cat /var/lib/postgresql/"+marker); got != "hello" {
			t.Errorf("a reads back %q", got)
		}
		if data, err := os.ReadFile(filepath.Join(privateSource(a.Dir, "/var/lib/postgresql"), marker)); err != nil || string(data) != "hello\n" {
			t.Errorf("a's private /var/lib/postgresql is not in its Dir: %q %v", data, err)
		}
		for _, p := range PrivateDirs {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%d:%d:%o", st.Uid, st.Gid, st.Mode&0o7777)
			if got := sh(t, a, "stat -L -c %u:%g:%a "+p); got != want {
				t.Errorf("%s in a is %s, on the host %s", p, got, want)
			}
			if got := sh(t, a, "mountpoint "+p+" >/dev/null && ls -A "+p+" | grep -v "+marker+" | wc -l"); got != "0" {
				t.Errorf("%s in a: not a private, fresh mount (%s entries)", p, got)
			}
		}
		var usr syscall.Stat_t
		syscall.Stat("/usr/bin", &usr)
		if got := sh(t, a, "stat -c %i /usr/bin"); got != fmt.Sprint(usr.Ino) {
			t.Errorf("/usr/bin in a is not the host's")
		}
		if out, err := shErr(a, "test ! -e /run/systemd/system"); err != nil {
			t.Errorf("/run/systemd/system is visible in a: %s", out)
		}
	})

	t.Run("processes survive", func(t *testing.T) {
		sh(t, a, "sleep 1000 </dev/null >/dev/null 2>&1 &")
		pids, err := a.Processes()
		if err != nil {
			t.Fatal(err)
		}
		if sleeper(pids) == 0 {
			t.Errorf("the sleep started in a is not among its processes %v", pids)
		}
		bp, err := b.Processes()
		if err != nil {
			t.Fatal(err)
		}
		if sleeper(bp) != 0 {
			t.Errorf("a's sleep shows among b's processes")
		}
	})

	t.Run("attach and detach", func(t *testing.T) {
		vol := t.TempDir()
		if err := os.WriteFile(filepath.Join(vol, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, hostErr := os.Stat("/srv/pgdata")
		if err := a.Attach(vol, "/srv/pgdata"); err != nil {
			t.Fatal(err)
		}
		if got := sh(t, a, "cat /srv/pgdata/PG_VERSION && echo from-a > /srv/pgdata/written"); got != "15" {
			t.Errorf("volume content in a: %q", got)
		}
		if data, err := os.ReadFile(filepath.Join(vol, "written")); err != nil || string(data) != "from-a\n" {
			t.Errorf("write in a did not reach the volume: %q %v", data, err)
		}
		if out, err := shErr(b, "test ! -e /srv/pgdata"); err != nil {
			t.Errorf("volume visible in b: %s", out)
		}
		if m := mountsMentioning(t, " /srv/pgdata "); len(m) > 0 {
			t.Errorf("the attachment leaked into the host's mounts: %q", m)
		}
		if _, err := os.Stat("/srv/pgdata"); !errors.Is(err, os.ErrNotExist) && errors.Is(hostErr, os.ErrNotExist) {
			t.Errorf("attach created /srv/pgdata on the host")
		}
		if err := a.Attach(vol, "/srv/pgdata"); err == nil || !strings.Contains(err.Error(), "already mounted") {
			t.Errorf("second attach: %v, want refused", err)
		}
		if err := a.Detach("/srv/pgdata"); err != nil {
			t.Fatal(err)
		}
		if out, err := shErr(a, "test ! -e /srv/pgdata/PG_VERSION"); err != nil {
			t.Errorf("volume still visible in a after detach: %s", out)
		}
		if err := a.Detach("/srv/pgdata"); err == nil {
			t.Errorf("detaching twice succeeded")
		}
		if _, err := os.Stat(filepath.Join(vol, "PG_VERSION")); err != nil {
			t.Errorf("detach lost the volume's content: %v", err)
		}
	})

	t.Run("load", func(t *testing.T) {
		got, err := Load(a.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Load = %+v, want %+v", got, a)
		}
		if h := sh(t, got, "cat /proc/sys/kernel/hostname"); h != "a" {
			t.Errorf("loaded machine runs in %q", h)
		}
		if _, err := Load(filepath.Join(e.root, "nothing")); err == nil {
			t.Errorf("Load of an empty directory succeeded")
		}
	})

	t.Run("destroy", func(t *testing.T) {
		pids, err := a.Processes()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			t.Fatal("a runs nothing before destroy; the test lost its processes")
		}
		if err := a.Destroy(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The bridge keeps its address when a port goes (else b's ARP entry for its gateway
		// would go stale and b would lose the other controller's machines for a while).
		links, err := listLinks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := links[n1].Address; got != bridgeMAC(n1) {
			t.Errorf("bridge %s has MAC %s after a's veth went, want %s", n1, got, bridgeMAC(n1))
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d of a survived destroy", pid)
			}
		}
		if m := mountsMentioning(t, a.Dir); len(m) > 0 {
			t.Errorf("mounts left after destroy: %q", m)
		}
		if _, err := os.Stat(a.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Dir left after destroy: %v", err)
		}
		if l := linksWithPrefix(t, a.Veth); len(l) > 0 {
			t.Errorf("veth left after destroy: %v", l)
		}
		if got := sh(t, b, "cat /proc/sys/kernel/hostname"); got != "b" {
			t.Errorf("b broke when a was destroyed: %q", got)
		}
	})
}

// sleeper finds the `sleep 1000` among pids.
func sleeper(pids []int) int {
	for _, pid := range pids {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if string(data) == "sleep\x001000\x00" {
			return pid
		}
	}
	return 0
}

func TestCleanupAll(t *testing.T) {
	e := newEnv(t)
	n1, n2 := e.network(), e.network()
	ms := []*Machine{e.machine("m0", n1, 20), e.machine("m1", n1, 21), e.machine("m2", n2, 20)}
	var pids []int
	for _, m := range ms {
		sh(t, m, "sleep 1000 </dev/null >/dev/null 2>&1 &")
		p, err := m.Processes()
		if err != nil || len(p) == 0 {
			t.Fatalf("processes of %s: %v %v", m.Hostname, p, err)
		}
		pids = append(pids, p...)
	}
	if err := ms[0].Attach(t.TempDir(), "/srv/pgdata"); err != nil {
		t.Fatal(err)
	}
	if err := CleanupAll(context.Background(), e.root, e.prefix); err != nil {
		t.Fatal(err)
	}
	prefixes := []string{e.prefix}
	for _, m := range ms {
		prefixes = append(prefixes, m.Veth)
	}
	if l := linksWithPrefix(t, prefixes...); len(l) > 0 {
		t.Errorf("interfaces left: %v", l)
	}
	if m := mountsMentioning(t, e.root); len(m) > 0 {
		t.Errorf("mounts left: %q", m)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d survived", pid)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "machines"))
	if len(entries) > 0 {
		t.Errorf("machine directories left: %v", entries)
	}
	if rules, err := listRules(context.Background()); err != nil || slices.ContainsFunc(rules, func(r rule) bool { return strings.HasPrefix(r.IIf, e.prefix) }) {
		t.Errorf("routing rules left: %v %+v", err, rules)
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		out, _ := exec.Command("iptables", "-w", "-S", "FORWARD").CombinedOutput()
		if strings.Contains(string(out), firewallTag+e.prefix) {
			t.Errorf("firewall rules left:\n%s", out)
		}
	}
	// Cleaning up nothing is fine.
	if err := CleanupAll(context.Background(), e.root, e.prefix); err != nil {
		t.Errorf("second cleanup: %v", err)
	}
}

// Several jujusim commands may create machines on the same controller at once.
func TestConcurrentCreate(t *testing.T) {
	e := newEnv(t)
	bridge := e.network()
	subnet := e.subnet[bridge]
	var wg sync.WaitGroup
	ms := make([]*Machine, 4)
	errs := make([]error, 4)
	for i := range ms {
		wg.Go(func() {
			host, err := EnsureNetwork(context.Background(), bridge, subnet)
			if err != nil {
				errs[i] = err
				return
			}
			a := host.As4()
			a[3] = byte(30 + i)
			ms[i], errs[i] = Create(context.Background(), Spec{
				Dir:      filepath.Join(e.root, "machines", fmt.Sprint(i)),
				Hostname: fmt.Sprintf("c%d", i),
				Bridge:   bridge,
				Addr:     netip.PrefixFrom(netip.AddrFrom4(a), subnet.Bits()),
				Gateway:  host,
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("machine %d: %v", i, err)
		}
	}
	for _, m := range ms {
		if out := sh(t, m, "ip -4 -o addr show dev eth0"); !strings.Contains(out, m.Addr.String()) {
			t.Errorf("%s: %s", m.Hostname, out)
		}
		if out := sh(t, m, "grep -c ' - nsfs ' /proc/self/mountinfo || true"); out != "0" {
			t.Errorf("%s mounts %s namespace files", m.Hostname, out)
		}
	}
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.Destroy(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("destroy %d: %v", i, err)
		}
	}
	for _, m := range ms {
		if l := linksWithPrefix(t, m.Veth); len(l) > 0 {
			t.Errorf("veth left: %v", l)
		}
	}
	if err := RemoveNetwork(context.Background(), bridge); err != nil {
		t.Fatal(err)
	}
	if l := linksWithPrefix(t, bridge); len(l) > 0 {
		t.Errorf("bridge left: %v", l)
	}
}

// pgVersion finds the PostgreSQL major version the host's packages provide, or skips.
func pgVersion(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"pg_createcluster", "pg_ctlcluster", "psql", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (tests/setup/jujusim.sh installs PostgreSQL)", tool)
		}
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server under /usr/lib/postgresql (tests/setup/jujusim.sh installs it)")
	}
	slices.Sort(bins)
	return filepath.Base(filepath.Dir(filepath.Dir(bins[len(bins)-1])))
}

// Each machine runs its own Debian cluster `VERSION/main` on port 5432, started by pg_ctlcluster
// without systemd, reachable from other machines at the machine's address.
func TestPostgreSQL(t *testing.T) {
	e := newEnv(t)
	v := pgVersion(t)
	n1, n2 := e.network(), e.network()
	a := e.machine("pga", n1, 10)
	b := e.machine("pgb", n1, 11)
	c := e.machine("pgc", n2, 10)
	for _, m := range []*Machine{a, c} {
		sh(t, m, fmt.Sprintf(`set -e
pg_createcluster %[1]s main >/dev/null
echo "listen_addresses = '*'" >> /etc/postgresql/%[1]s/main/postgresql.conf
echo "host all all 0.0.0.0/0 trust" >> /etc/postgresql/%[1]s/main/pg_hba.conf
pg_ctlcluster %[1]s main start`, v))
	}
	query := func(from, to *Machine, sql string) string {
		t.Helper()
		return sh(t, from, fmt.Sprintf("PGCONNECT_TIMEOUT=20 psql -h %s -p 5432 -U postgres -d postgres -Atc %s", to.Addr.Addr(), shellQuote(sql)))
	}
	for _, tc := range []struct{ from, to *Machine }{{b, a}, {b, c}, {a, c}, {c, a}} {
		got := query(tc.from, tc.to, "select inet_client_addr()::text || ' ' || current_setting('port')")
		if want := tc.from.Addr.Addr().String() + "/32 5432"; got != want {
			t.Errorf("%s -> %s: server saw %q, want %q", tc.from.Hostname, tc.to.Hostname, got, want)
		}
	}
	// Each cluster is its machine's own: different system identifiers, data in the machine's Dir.
	ida := query(b, a, "select system_identifier from pg_control_system()")
	idc := query(b, c, "select system_identifier from pg_control_system()")
	if ida == idc {
		t.Errorf("a and c run the same cluster (%s)", ida)
	}
	pid := filepath.Join(privateSource(a.Dir, "/var/lib/postgresql"), v, "main", "postmaster.pid")
	if _, err := os.Stat(pid); err != nil {
		t.Errorf("a's cluster does not live in a's private /var/lib/postgresql: %v", err)
	}

	pids, err := a.Processes()
	if err != nil {
		t.Fatal(err)
	}
	var pgPids []int
	for _, p := range pids {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.HasPrefix(string(comm), "postgres") {
			pgPids = append(pgPids, p)
		}
	}
	if len(pgPids) == 0 {
		t.Fatalf("no postgres process among a's processes %v", pids)
	}
	if err := a.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range pgPids {
		if alive(p) {
			t.Errorf("postgres process %d survived destroy", p)
		}
	}
	if m := mountsMentioning(t, a.Dir); len(m) > 0 {
		t.Errorf("mounts left after destroy: %q", m)
	}
	if got := query(b, c, "select 1"); got != "1" {
		t.Errorf("c's cluster after a's destruction: %q", got)
	}
}

// A failed Create takes back what it made, and never touches a directory it does not own.
func TestCreateFailure(t *testing.T) {
	e := newEnv(t)
	n1 := e.network()
	host := e.hosts[n1]
	a := host.As4()
	a[3] = 40
	spec := Spec{
		Dir:      filepath.Join(e.root, "machines", "broken"),
		Hostname: "broken",
		Bridge:   e.prefix + "x", // no such bridge: fails after the namespaces exist
		Addr:     netip.PrefixFrom(netip.AddrFrom4(a), 24),
		Gateway:  host,
	}
	if _, err := Create(context.Background(), spec); err == nil || !strings.Contains(err.Error(), spec.Bridge) {
		t.Fatalf("create on a missing bridge: %v, want an error naming it", err)
	}
	if _, err := os.Stat(spec.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed create left its directory: %v", err)
	}
	if m := mountsMentioning(t, spec.Dir); len(m) > 0 {
		t.Errorf("failed create left mounts: %q", m)
	}
	if l := linksWithPrefix(t, "vjs"); slices.ContainsFunc(l, func(name string) bool {
		m, _ := newMachine(spec)
		return m != nil && name == m.Veth
	}) {
		t.Errorf("failed create left its veth")
	}

	spec.Bridge = n1
	keep := filepath.Join(spec.Dir, "precious")
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("create in a non-empty directory: %v, want refused", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("refused create touched the directory: %v", err)
	}
	for _, bad := range []Spec{
		{Dir: "relative", Hostname: "x", Bridge: n1, Addr: spec.Addr, Gateway: host},
		{Dir: spec.Dir + "2", Hostname: "", Bridge: n1, Addr: spec.Addr, Gateway: host},
		{Dir: spec.Dir + "2", Hostname: "x", Bridge: n1, Addr: spec.Addr, Gateway: netip.MustParseAddr("192.0.2.1")},
		{Dir: spec.Dir + "2", Hostname: "x", Bridge: "a-name-far-too-long", Addr: spec.Addr, Gateway: host},
	} {
		if _, err := Create(context.Background(), bad); err == nil {
			t.Errorf("create %+v succeeded, want refused", bad)
		}
	}
}

// How long a machine takes to make and to remove (util-linux and iproute2 processes dominate).
func BenchmarkCreateDestroy(b *testing.B) {
	e := newEnv(b)
	bridge := e.network()
	for i := 0; b.Loop(); i++ {
		m := e.machine(fmt.Sprintf("bench%d", i), bridge, 50)
		if err := m.Destroy(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNetworks(t *testing.T) {
	e := newEnv(t)
	n1 := e.network()
	s1 := e.subnet[n1]
	ctx := context.Background()
	if host, err := EnsureNetwork(ctx, n1, s1); err != nil || host != e.hosts[n1] || host != s1.Addr().Next() {
		t.Errorf("EnsureNetwork again: %v %v, want %v", host, err, e.hosts[n1])
	}
	if err := CheckSubnetFree(s1); err != nil {
		t.Errorf("checking an existing controller's own subnet: %v", err)
	}
	overlap := netip.PrefixFrom(s1.Addr(), 23).Masked()
	if _, err := EnsureNetwork(ctx, e.prefix+"o", overlap); err == nil || !strings.Contains(err.Error(), n1) {
		t.Errorf("a second bridge overlapping %s: %v, want a clash naming %s", n1, err, n1)
	}
	if l := linksWithPrefix(t, e.prefix+"o"); len(l) > 0 {
		t.Errorf("refused network left %v", l)
	}
	other := netip.MustParsePrefix("10.99.0.0/24")
	if _, err := EnsureNetwork(ctx, n1, other); err == nil || !strings.Contains(err.Error(), "already carries") {
		t.Errorf("moving %s to another subnet: %v, want refused", n1, err)
	}
	if err := RemoveNetwork(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetwork(ctx, n1); err != nil {
		t.Errorf("removing a missing network: %v", err)
	}
	if l := linksWithPrefix(t, n1); len(l) > 0 {
		t.Errorf("bridge left: %v", l)
	}
	if rules, _ := listRules(ctx); slices.ContainsFunc(rules, func(r rule) bool { return r.IIf == n1 }) {
		t.Errorf("routing rules left for %s", n1)
	}
}
