package machine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as the TCP server and client run inside machines, selected by this
// variable, so that tests need nothing but the binary itself.
const helperEnv = "JUJUSIM_MACHINE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		// Tell every client its own address as this server sees it.
		ln, err := net.Listen("tcp", os.Args[len(os.Args)-1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			fmt.Fprintln(c, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", os.Args[len(os.Args)-1], 2*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(os.Stdout, c)
		os.Exit(0)
	}
	os.Exit(2)
}

// needRoot skips tests that create namespaces and interfaces when they cannot.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("jujusim machines need root (namespaces, bridges, mounts); run the tests as root")
	}
	for _, tool := range []string{"ip", "unshare", "nsenter", "taskset", "mount", "umount", "mountpoint", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (tests/setup/jujusim.sh installs it)", tool)
		}
	}
	probeOnce.Do(func() {
		// What machines need from the kernel, tried in a throwaway network namespace: root in an
		// unprivileged container, say, has none of it.
		out, err := exec.Command("unshare", "--net", "--mount", "--uts", "--ipc", "sh", "-c",
			"ip link add jsprobe type bridge && ip link add jsprobe0 type veth peer name jsprobe1").CombinedOutput()
		if err != nil {
			probeErr = fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
		}
	})
	if probeErr != "" {
		t.Skipf("this host cannot make namespaces, bridges or veths (%s): jujusim machines need them", probeErr)
	}
}

var (
	probeOnce sync.Once
	probeErr  string
)

// env is one test's corner of the host: a state root, a bridge prefix and networks under it, all
// removed by CleanupAll when the test ends, pass or fail.
type env struct {
	t      testing.TB
	root   string
	prefix string
	nets   int
	hosts  map[string]netip.Addr // bridge -> host address
	subnet map[string]netip.Prefix
}

func newEnv(t testing.TB) *env {
	needRoot(t)
	root := t.TempDir()
	b := make([]byte, 3)
	rand.Read(b)
	e := &env{t: t, root: root, prefix: "jmt" + hex.EncodeToString(b), hosts: map[string]netip.Addr{}, subnet: map[string]netip.Prefix{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := CleanupAll(ctx, root, e.prefix); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return e
}

// network makes a bridge with a free random /24 in 10.200.0.0-10.249.255.0.
func (e *env) network() string {
	e.t.Helper()
	bridge := fmt.Sprintf("%sn%d", e.prefix, e.nets)
	e.nets++
	for range 50 {
		b := make([]byte, 2)
		rand.Read(b)
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200 + b[0]%50, b[1], 0}), 24)
		if CheckSubnetFree(subnet) != nil {
			continue
		}
		host, err := EnsureNetwork(context.Background(), bridge, subnet)
		if err != nil {
			e.t.Fatalf("ensure network %s %s: %v", bridge, subnet, err)
		}
		e.hosts[bridge] = host
		e.subnet[bridge] = subnet
		return bridge
	}
	e.t.Fatal("no free subnet found in 10.200.0.0/16-10.249.0.0/16")
	return ""
}

// machine creates a machine with host number n on bridge.
func (e *env) machine(name, bridge string, n byte) *Machine {
	e.t.Helper()
	host := e.hosts[bridge]
	a := host.As4()
	a[3] = n
	m, err := Create(context.Background(), Spec{
		Dir:      filepath.Join(e.root, "machines", name),
		Hostname: name,
		Bridge:   bridge,
		Addr:     netip.PrefixFrom(netip.AddrFrom4(a), e.subnet[bridge].Bits()),
		Gateway:  host,
	})
	if err != nil {
		e.t.Fatalf("create machine %s: %v", name, err)
	}
	return m
}

// sh runs a shell script in the machine and returns its output; failure fails the test.
func sh(t *testing.T, m *Machine, script string) string {
	t.Helper()
	out, err := shErr(m, script)
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s", m.Hostname, script, err, out)
	}
	return out
}

func shErr(m *Machine, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := m.Command(ctx, "sh", "-c", script)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mountsMentioning returns the host's mount table lines containing s.
func mountsMentioning(t *testing.T, s string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return lines
}

// linksWithPrefix lists host interfaces whose names start with one of the prefixes.
func linksWithPrefix(t *testing.T, prefixes ...string) []string {
	t.Helper()
	links, err := listLinks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range links {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				names = append(names, name)
			}
		}
	}
	return names
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie is dead for our purposes: it runs nothing and holds no namespace.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// serve starts the test binary in m as a server telling each client its address.
func serve(t *testing.T, m *Machine, listen string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := m.Command(context.Background(), exe, listen)
	srv.Env = append(os.Environ(), helperEnv+"=serve")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	t.Cleanup(func() { srv.Process.Kill(); <-done })
	var last error
	for range 100 {
		if _, last = dialFrom(m, listen); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server in %s never answered: %v", m.Hostname, last)
}

// dialFrom connects from machine m (the host if nil) to addr and returns what the server said:
// the client's address as the server saw it.
func dialFrom(m *Machine, addr string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	var cmd *exec.Cmd
	if m == nil {
		cmd = exec.Command(exe, addr)
	} else {
		cmd = m.Command(context.Background(), exe, addr)
	}
	cmd.Env = append(os.Environ(), helperEnv+"=dial")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
