package machine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/image"
)

// systemImage returns the default machine image, building it (once per host) if needed.
func systemImage(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("system machines boot an image: skipped with -short")
	}
	needRoot(t)
	if err := checkCgroups(); err != nil {
		t.Skipf("this host cannot run system machines: %v", err)
	}
	if m := image.Missing(); len(m) > 0 {
		t.Skipf("building the machine image needs %v (tests/setup/jujusim.sh installs them)", m)
	}
	img, err := image.Ensure(context.Background(), image.CacheDir(), image.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return img.Root()
}

// system boots a system machine with host number n on bridge; the env root is shared with it.
func (e *env) system(name, bridge string, n byte, img string) *System {
	e.t.Helper()
	host := e.hosts[bridge]
	a := host.As4()
	a[3] = n
	m, err := CreateSystem(context.Background(), SystemSpec{
		Spec: Spec{
			Dir:      filepath.Join(e.root, "machines", name),
			Hostname: name,
			Bridge:   bridge,
			Addr:     netip.PrefixFrom(netip.AddrFrom4(a), e.subnet[bridge].Bits()),
			Gateway:  host,
		},
		Image:    img,
		Shared:   []string{filepath.Join(e.root, "shared")},
		ReadOnly: []string{filepath.Join(e.root, "shared", "ro")},
	})
	if err != nil {
		e.t.Fatalf("create system machine %s: %v", name, err)
	}
	return m
}

func ssh(t *testing.T, m *System, script string) string {
	t.Helper()
	out, err := sshErr(m, script)
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s", m.Hostname, script, err, out)
	}
	return out
}

func sshErr(m *System, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := m.Command(ctx, "sh", "-c", script)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestSystemMachine(t *testing.T) {
	img := systemImage(t)
	e := newEnv(t)
	for _, d := range []string{"shared/ro", "shared/vol"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	net0 := e.network()
	start := time.Now()
	a := e.system("sa", net0, 10, img)
	t.Logf("machine sa booted in %s", time.Since(start).Round(time.Millisecond))
	b := e.system("sb", net0, 11, img)

	t.Run("systemd", func(t *testing.T) {
		for _, m := range []*System{a, b} {
			if got := ssh(t, m, "cat /proc/1/comm"); got != "systemd" {
				t.Errorf("PID 1 of %s is %q", m.Hostname, got)
			}
			if got, _ := sshErr(m, "systemctl is-system-running"); got != "running" {
				t.Errorf("%s: is-system-running says %q; failed units: %s", m.Hostname, got, ssh(t, m, "systemctl --failed --no-legend --no-pager"))
			}
			if got := ssh(t, m, "systemctl --failed --no-legend --no-pager"); got != "" {
				t.Errorf("%s has failed units:\n%s", m.Hostname, got)
			}
			if got := ssh(t, m, "systemd-detect-virt --container"); got == "none" {
				t.Errorf("%s: systemd does not know it runs in a container", m.Hostname)
			}
		}
		if ssh(t, a, "cat /etc/machine-id") == ssh(t, b, "cat /etc/machine-id") {
			t.Error("two machines share a machine-id")
		}
	})

	t.Run("cgroup", func(t *testing.T) {
		// Its own cgroup namespace: PID 1 sees itself in /init.scope, not in the host's tree.
		// systemd tracks its units in the machine's own hierarchy only (none of the host's
		// controller or unified hierarchies, whose roots machines would share).
		if got := ssh(t, a, "cat /proc/1/cgroup"); !strings.Contains(got, ":/init.scope") {
			t.Errorf("PID 1 is not in /init.scope of its own hierarchy:\n%s", got)
		}
		if got := ssh(t, a, "ls /sys/fs/cgroup"); (a.CgroupV2 && strings.Contains(got, "systemd")) || (!a.CgroupV2 && got != "systemd") {
			t.Errorf("cgroup hierarchies in the machine: %q", got)
		}
		if a.CgroupV2 {
			if got := ssh(t, a, "grep '^0::' /proc/1/cgroup"); got != "0::/init.scope" {
				t.Errorf("PID 1 in cgroup2: %q", got)
			}
		} else if got := ssh(t, a, "grep name=systemd /proc/1/cgroup | cut -d: -f3"); got != "/init.scope" {
			t.Errorf("PID 1 in name=systemd: %q", got)
		}
		want := "tmpfs"
		if a.CgroupV2 {
			want = "cgroup2fs"
		}
		if got := ssh(t, a, "stat -fc %T /sys/fs/cgroup"); got != want {
			t.Errorf("/sys/fs/cgroup in the machine is %s, want %s (cgroup v2: %v)", got, want, a.CgroupV2)
		}
		if _, err := os.Stat(filepath.Join(a.Cgroup, "init.scope")); err != nil {
			t.Errorf("systemd's init.scope is not under the machine's cgroup %s: %v", a.Cgroup, err)
		}
	})

	t.Run("identity", func(t *testing.T) {
		for _, m := range []*System{a, b} {
			if got := ssh(t, m, "hostname"); got != m.Hostname {
				t.Errorf("hostname of %s: %q", m.Hostname, got)
			}
			if out := ssh(t, m, "ip -4 -o addr show dev eth0"); !strings.Contains(out, " "+m.Addr.String()+" ") {
				t.Errorf("eth0 of %s lacks %s: %s", m.Hostname, m.Addr, out)
			}
			if got := ssh(t, m, "getent ahostsv4 "+m.Hostname+" | head -n 1"); !strings.HasPrefix(got, m.Addr.Addr().String()+" ") {
				t.Errorf("%s resolves to %q in itself", m.Hostname, got)
			}
			if !strings.Contains(ssh(t, m, "ip -o link show dev eth0"), "link/ether "+MAC(m.Addr.Addr())+" ") {
				t.Errorf("eth0 of %s does not have MAC %s", m.Hostname, MAC(m.Addr.Addr()))
			}
		}
	})

	t.Run("own root", func(t *testing.T) {
		ssh(t, a, "echo mine > /usr/local/jujusim-probe")
		if _, err := os.Stat("/usr/local/jujusim-probe"); err == nil {
			t.Error("a write to /usr in a machine reached the host")
		}
		if _, err := sshErr(b, "test ! -e /usr/local/jujusim-probe"); err != nil {
			t.Error("a write to /usr in one machine reached another")
		}
		if _, err := sshErr(a, "test -e "+shellQuote(img)); err == nil {
			t.Errorf("the image directory %s is visible inside the machine", img)
		}
		// PID namespace: the host's processes are not visible.
		if out := ssh(t, a, "ls /proc | grep -c '^[0-9]'"); out == "" {
			t.Error("no processes listed")
		} else if _, err := sshErr(a, fmt.Sprintf("test ! -e /proc/%d", os.Getpid())); err != nil && os.Getpid() > 1000 {
			t.Logf("note: a PID as high as the test's exists in the machine (%d)", os.Getpid())
		}
	})

	t.Run("shared and read-only", func(t *testing.T) {
		shared := filepath.Join(e.root, "shared")
		ssh(t, a, "echo from-machine > "+shellQuote(filepath.Join(shared, "probe")))
		if data, _ := os.ReadFile(filepath.Join(shared, "probe")); string(data) != "from-machine\n" {
			t.Errorf("shared directory: host reads %q", data)
		}
		if out, err := sshErr(a, "touch "+shellQuote(filepath.Join(shared, "ro", "x"))); err == nil {
			t.Errorf("wrote into a read-only directory: %s", out)
		}
	})

	t.Run("pg_ctlcluster goes through systemd", func(t *testing.T) {
		ssh(t, a, "pg_createcluster 15 probe >/dev/null && pg_ctlcluster 15 probe start")
		if got := ssh(t, a, "systemctl is-active postgresql@15-probe"); got != "active" {
			t.Errorf("postgresql@15-probe is %q after pg_ctlcluster start", got)
		}
		if got := ssh(t, a, "runuser -u postgres -- psql -p $(grep -h '^port' /etc/postgresql/15/probe/postgresql.conf | awk '{print $3}') -Atc 'select 1'"); got != "1" {
			t.Errorf("the cluster answers %q", got)
		}
		ssh(t, a, "pg_ctlcluster 15 probe stop")
		if got, _ := sshErr(a, "systemctl is-active postgresql@15-probe"); got != "inactive" {
			t.Errorf("postgresql@15-probe is %q after pg_ctlcluster stop", got)
		}
	})

	t.Run("apt offline", func(t *testing.T) {
		if out, err := sshErr(a, "DEBIAN_FRONTEND=noninteractive apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -y -q install --reinstall postgresql-client-15"); err != nil {
			t.Errorf("apt-get from the image's local source: %v\n%s", err, out)
		}
	})

	t.Run("partition", func(t *testing.T) {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(e.hosts[net0], 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		dial := fmt.Sprintf("timeout 2 bash -c 'exec 3<>/dev/tcp/%s/%d'", e.hosts[net0], ln.Addr().(*net.TCPAddr).Port)
		ssh(t, a, "systemd-run --unit=probe-http python3 -m http.server --bind "+a.Addr.Addr().String()+" 8000 >/dev/null")
		inbound := func() error {
			var err error
			for range 50 {
				var c net.Conn
				if c, err = net.DialTimeout("tcp", a.Addr.Addr().String()+":8000", time.Second); err == nil {
					c.Close()
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return err
		}
		if _, err := sshErr(a, dial); err != nil {
			t.Fatalf("machine cannot reach the host before the partition: %v", err)
		}
		if err := inbound(); err != nil {
			t.Fatalf("host cannot reach the machine before the partition: %v", err)
		}
		pid1 := a.current().PID
		if err := a.Partition(context.Background()); err != nil {
			t.Fatal(err)
		}
		if out, err := sshErr(a, dial); err == nil {
			t.Errorf("partitioned machine reached the host: %s", out)
		}
		if c, err := net.DialTimeout("tcp", a.Addr.Addr().String()+":8000", time.Second); err == nil {
			c.Close()
			t.Error("host reached the partitioned machine")
		}
		if _, err := sshErr(b, fmt.Sprintf("timeout 2 bash -c 'exec 3<>/dev/tcp/%s/8000'", a.Addr.Addr())); err == nil {
			t.Error("another machine reached the partitioned machine")
		}
		if got := ssh(t, a, "systemctl is-active probe-http"); got != "active" || a.current().PID != pid1 {
			t.Errorf("a partition stopped processes: probe-http %s, PID 1 %d (was %d)", got, a.current().PID, pid1)
		}
		if err := a.Heal(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := sshErr(a, dial); err != nil {
			t.Errorf("healed machine cannot reach the host: %v", err)
		}
		if err := inbound(); err != nil {
			t.Errorf("host cannot reach the healed machine: %v", err)
		}
	})

	t.Run("reboot and crash", func(t *testing.T) {
		vol := filepath.Join(e.root, "shared", "vol")
		if err := a.Attach(vol, "/srv/data"); err != nil {
			t.Fatal(err)
		}
		ssh(t, a, "echo kept > /srv/data/marker && echo disk > /etc/jujusim-marker")
		if data, _ := os.ReadFile(filepath.Join(vol, "marker")); string(data) != "kept\n" {
			t.Fatalf("volume: host reads %q", data)
		}
		ssh(t, a, "nohup sleep 600 >/dev/null 2>&1 </dev/null &")
		before := a.current().PID
		start := time.Now()
		if err := a.Poweroff(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("poweroff took %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := a.Reboot(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("boot took %s", time.Since(start).Round(time.Millisecond))
		if a.current().PID == before {
			t.Error("PID 1 is the same after a reboot")
		}
		if got := ssh(t, a, "cat /etc/jujusim-marker /srv/data/marker"); got != "disk\nkept" {
			t.Errorf("after reboot: %q, want the disk and the volume kept", got)
		}
		if out, err := sshErr(a, "pgrep -x sleep"); err == nil {
			t.Errorf("a process survived the reboot: %s", out)
		}
		if got, _ := sshErr(a, "systemctl is-system-running"); got != "running" {
			t.Errorf("after reboot: %s", got)
		}
		pids, _ := a.Processes()
		if err := a.Crash(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a.Running() {
			t.Error("running after a crash")
		}
		for _, p := range survivors(pids) {
			t.Errorf("process %d of the crashed machine lives", p)
		}
		if _, err := sshErr(a, "true"); err == nil || !strings.Contains(err.Error(), "not running") {
			t.Errorf("command in a crashed machine: %v", err)
		}
		if err := a.Boot(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := ssh(t, a, "cat /etc/jujusim-marker /srv/data/marker"); got != "disk\nkept" {
			t.Errorf("after crash and boot: %q", got)
		}
		if err := a.Detach("/srv/data"); err != nil {
			t.Fatal(err)
		}
		if _, err := sshErr(a, "mountpoint -q /srv/data"); err == nil {
			t.Error("/srv/data still mounted after Detach")
		}
	})

	t.Run("destroy", func(t *testing.T) {
		pids, _ := b.Processes()
		if len(pids) < 3 {
			t.Errorf("machine sb runs %d processes, want systemd and its services", len(pids))
		}
		if err := b.Destroy(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, p := range survivors(pids) {
			t.Errorf("process %d of the destroyed machine lives", p)
		}
		if l := linksWithPrefix(t, b.Veth); len(l) > 0 {
			t.Errorf("veth left: %v", l)
		}
		if _, err := os.Stat(b.Cgroup); err == nil {
			t.Errorf("cgroup %s left", b.Cgroup)
		}
		if _, err := os.Stat(b.Dir); err == nil {
			t.Errorf("directory %s left", b.Dir)
		}
		if l := mountsMentioning(t, e.root); len(l) > 0 {
			t.Errorf("host mounts left: %v", l)
		}
	})
}

// TestSystemBootTimeout checks the error of a machine that never finishes booting: it names
// the machine and carries its journal.
func TestSystemBootFailure(t *testing.T) {
	img := systemImage(t)
	e := newEnv(t)
	net0 := e.network()
	old := BootTimeout
	BootTimeout = 3 * time.Second
	defer func() { BootTimeout = old }()
	host := e.hosts[net0]
	a := host.As4()
	a[3] = 20
	dir := filepath.Join(e.root, "machines", "slow")
	// A unit that keeps the boot from finishing.
	if err := os.MkdirAll(filepath.Join(dir, "upper/etc/systemd/system/multi-user.target.wants"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := "[Unit]\nDescription=never finishes\n[Service]\nType=oneshot\nExecStart=/bin/sleep 600\n"
	if err := os.WriteFile(filepath.Join(dir, "upper/etc/systemd/system/jujusim-hang.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../jujusim-hang.service", filepath.Join(dir, "upper/etc/systemd/system/multi-user.target.wants/jujusim-hang.service")); err != nil {
		t.Fatal(err)
	}
	// CreateSystem wants an empty directory: seed the upper directory through a fresh one.
	seed := filepath.Join(e.root, "seed")
	if err := os.Rename(dir, seed); err != nil {
		t.Fatal(err)
	}
	spec := SystemSpec{Spec: Spec{Dir: dir, Hostname: "slow", Bridge: net0, Addr: netip.PrefixFrom(netip.AddrFrom4(a), 24), Gateway: host}, Image: img}
	m, err := createSystemSeeded(context.Background(), spec, filepath.Join(seed, "upper"))
	if err == nil {
		m.Destroy(context.Background())
		t.Fatal("a machine whose boot never finishes was created")
	}
	for _, want := range []string{"slow", "did not finish booting", "jujusim-hang.service", "journal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, serr := os.Stat(dir); serr == nil {
		t.Errorf("failed machine left %s", dir)
	}
}

// BenchmarkSystemBoot measures a machine's boot (create to systemd running) and its destroy.
func BenchmarkSystemBoot(b *testing.B) {
	img := systemImage(b)
	e := newEnv(b)
	net0 := e.network()
	var boot, destroy time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		m := e.system(fmt.Sprintf("bench%d", i), net0, byte(10+i%200), img)
		boot += time.Since(start)
		start = time.Now()
		if err := m.Destroy(context.Background()); err != nil {
			b.Fatal(err)
		}
		destroy += time.Since(start)
	}
	b.ReportMetric(boot.Seconds()/float64(b.N), "s/boot")
	b.ReportMetric(destroy.Seconds()/float64(b.N), "s/destroy")
}

// survivors returns the pids still alive a second later: the keeper (unshare) may still be
// exiting when its machine's processes are gone.
func survivors(pids []int) []int {
	var left []int
	for range 50 {
		left = left[:0]
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return left
}
