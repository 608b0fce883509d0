package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Spec describes a machine to create.
type Spec struct {
	Dir      string       // per-machine state directory, created by Create and owned by it
	Hostname string       // seen by processes in the machine (UTS namespace)
	Bridge   string       // controller bridge, made by EnsureNetwork
	Addr     netip.Prefix // the machine's address on the bridge, e.g. 10.140.0.5/24
	Gateway  netip.Addr   // the bridge's host address
}

// Machine is a created machine. Its namespaces live as long as their files under Dir/ns stay
// mounted, so a Machine survives the process that made it; Load finds it again.
type Machine struct {
	Dir      string
	Hostname string
	Bridge   string
	Addr     netip.Prefix
	Gateway  netip.Addr
	Veth     string // host end of the machine's veth pair; the machine's end is eth0
}

const stateFile = "machine.json"

// nsKinds are the namespaces a machine has, by their nsenter/unshare option names.
var nsKinds = []string{"net", "mount", "uts", "ipc"}

func (m *Machine) nsFile(kind string) string {
	if kind == "mnt" {
		kind = "mount"
	}
	return filepath.Join(m.Dir, "ns", kind)
}

func (m *Machine) nsArgs() []string {
	args := make([]string, 0, len(nsKinds))
	for _, k := range nsKinds {
		args = append(args, "--"+k+"="+m.nsFile(k))
	}
	return args
}

// Create makes a machine: its private directories, namespaces, hostname and network. On failure
// it removes whatever it had made.
func Create(ctx context.Context, s Spec) (*Machine, error) {
	m, err := newMachine(s)
	if err != nil {
		return nil, err
	}
	// Dir is deleted on failure and by Destroy, so it must be ours alone.
	if entries, err := os.ReadDir(m.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("create machine %s: directory %s is not empty (another machine's?)", m.Hostname, m.Dir)
	}
	if err := os.MkdirAll(filepath.Join(m.Dir, "ns"), 0o700); err != nil {
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	// Saved first so that Load, Destroy and CleanupAll can undo a half-made machine.
	if err := m.save(); err != nil {
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	if err := m.create(ctx); err != nil {
		if derr := m.Destroy(context.WithoutCancel(ctx)); derr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
		}
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	return m, nil
}

func newMachine(s Spec) (*Machine, error) {
	switch {
	case !filepath.IsAbs(s.Dir) || filepath.Clean(s.Dir) == "/":
		return nil, fmt.Errorf("create machine %s: directory %q must be an absolute path below /", s.Hostname, s.Dir)
	case s.Hostname == "" || len(s.Hostname) > 64 || strings.ContainsAny(s.Hostname, " /\t\n'\""):
		return nil, fmt.Errorf("create machine: invalid hostname %q", s.Hostname)
	case !s.Addr.IsValid() || !s.Addr.Addr().Is4():
		return nil, fmt.Errorf("create machine %s: address %s must be an IPv4 address with prefix length", s.Hostname, s.Addr)
	case !s.Addr.Contains(s.Gateway) || s.Gateway == s.Addr.Addr():
		return nil, fmt.Errorf("create machine %s: gateway %s is not another address in %s", s.Hostname, s.Gateway, s.Addr.Masked())
	}
	if err := validLinkName(s.Bridge); err != nil {
		return nil, fmt.Errorf("create machine %s: bridge: %w", s.Hostname, err)
	}
	dir := filepath.Clean(s.Dir)
	h := fnv.New32a()
	h.Write([]byte(dir))
	return &Machine{
		Dir:      dir,
		Hostname: s.Hostname,
		Bridge:   s.Bridge,
		Addr:     s.Addr,
		Gateway:  s.Gateway,
		Veth:     fmt.Sprintf("vjs%08x", h.Sum32()),
	}, nil
}

func (m *Machine) create(ctx context.Context) error {
	if err := makePrivateDirs(m.Dir); err != nil {
		return err
	}
	if err := m.writeHosts(); err != nil {
		return err
	}
	if err := m.makeNamespaces(ctx); err != nil {
		return err
	}
	return m.plugNetwork(ctx)
}

// makeNamespaces creates the persistent namespaces with util-linux unshare, then arranges the mount
// namespace from inside. Creations are serialised (briefly) so that no machine's copy of the host
// mount table catches another machine's namespace files halfway.
func (m *Machine) makeNamespaces(ctx context.Context) error {
	unlock, err := lockFile("create.lock")
	if err != nil {
		return err
	}
	defer unlock()

	// unshare can only bind a new mount namespace's file onto a private mount (a shared one would
	// propagate the namespace into itself), hence the private bind of Dir/ns onto itself.
	nsDir := filepath.Join(m.Dir, "ns")
	if err := run(ctx, "mount", "--bind", nsDir, nsDir); err != nil {
		return err
	}
	if err := run(ctx, "mount", "--make-private", nsDir); err != nil {
		return err
	}
	for _, k := range nsKinds {
		if err := os.WriteFile(m.nsFile(k), nil, 0o600); err != nil {
			return err
		}
	}
	// Outside the host's initial mount namespace (in a container, say), the kernel may refuse to
	// bind the new mount namespace's file with EINVAL: it accepts only namespaces with a higher id
	// than the caller's, and recent kernels hand ids out in per-CPU batches, so a namespace made on
	// one CPU can get a lower id than an older one made on another. The CPU that made the caller's
	// namespace always works, so on EINVAL try each allowed CPU in turn.
	cpus := allowedCPUs()
	for attempt := 0; ; attempt++ {
		cpu := -1
		if attempt > 0 {
			cpu = cpus[(attempt-1)%len(cpus)]
		}
		err = m.unshare(ctx, cpu)
		if err == nil {
			return nil
		}
		if uerr := m.unmountNSFiles(); uerr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, uerr)
		}
		if !strings.Contains(err.Error(), "Invalid argument") || attempt >= 3*len(cpus) {
			return err
		}
	}
}

// unshare creates the namespaces and runs the setup script in them, on the given CPU if cpu >= 0.
func (m *Machine) unshare(ctx context.Context, cpu int) error {
	script, err := m.setupScript()
	if err != nil {
		return err
	}
	args := append(m.nsArgs(), "--propagation", "private", "sh", "-c", script)
	name := "unshare"
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), "unshare"}, args...)
		name = "taskset"
	}
	if err := run(ctx, name, args...); err != nil {
		return fmt.Errorf("set up namespaces: %w", err)
	}
	return nil
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	var cpus []int
	if unix.SchedGetaffinity(0, &set) == nil {
		for i := range 1024 {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
	}
	if len(cpus) == 0 {
		cpus = []int{0}
	}
	return cpus
}

// unmountNSFiles undoes a failed unshare: whichever namespace files it had bound are released, which
// frees those namespaces.
func (m *Machine) unmountNSFiles() error {
	for _, k := range nsKinds {
		if err := syscall.Unmount(m.nsFile(k), syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			return fmt.Errorf("unmount %s: %w", m.nsFile(k), err)
		}
	}
	return nil
}

// setupScript runs once inside the new namespaces. Its copy of the host's mount table holds other
// machines' namespace files; those are dropped first, or they would keep the other machines'
// networks alive after their destruction. Then the private directories go in place.
func (m *Machine) setupScript() (string, error) {
	var b strings.Builder
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "printf '%%s' %s > /proc/sys/kernel/hostname\n", shellQuote(m.Hostname))
	// Bind mounts of other machines' ns directories (and our own): found by their state file.
	ms, err := readMounts("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	parent := filepath.Dir(m.Dir)
	var drop []string
	for _, mt := range ms {
		if filepath.Base(mt.Point) != "ns" || !under(mt.Point, parent) {
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(mt.Point), stateFile)); err == nil {
			drop = append(drop, mt.Point)
		}
	}
	sort.Slice(drop, func(i, j int) bool { return len(drop[i]) > len(drop[j]) })
	b.WriteString(`for m in $(awk '{for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i+1) == "nsfs") print $5; break }}' /proc/self/mountinfo); do
	umount -l "$(printf '%b' "$m")" 2>/dev/null || true
done
if grep ' - nsfs ' /proc/self/mountinfo >&2; then echo "cannot drop the namespace files above" >&2; exit 1; fi
`)
	for _, p := range drop {
		fmt.Fprintf(&b, "umount -l %s 2>/dev/null || true\n", shellQuote(p))
	}
	for _, target := range PrivateDirs {
		fmt.Fprintf(&b, "mount --bind %s %s\n", shellQuote(privateSource(m.Dir, target)), shellQuote(target))
	}
	// PostgreSQL's dynamic shared memory lives in /dev/shm; give each machine its own so that it
	// goes away with the machine.
	b.WriteString("mount -t tmpfs -o mode=1777,nosuid,nodev jujusim-shm /dev/shm\n")
	fmt.Fprintf(&b, "mount --bind %s /etc/hosts\n", shellQuote(m.hostsFile()))
	// pg_ctlcluster and pg_createcluster hand over to systemctl when /run/systemd/system exists;
	// no systemd runs in a machine, so hide it.
	b.WriteString("if [ -d /run/systemd/system ]; then mount -t tmpfs -o mode=755 jujusim-nosystemd /run/systemd; fi\n")
	return b.String(), nil
}

func (m *Machine) hostsFile() string { return filepath.Join(m.Dir, "fs", "hosts") }

// writeHosts gives the machine an /etc/hosts in which its hostname resolves to its address, as on
// a cloud machine; the host's entries are kept.
func (m *Machine) writeHosts() error {
	host, err := os.ReadFile("/etc/hosts")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read /etc/hosts: %w", err)
	}
	if len(host) > 0 && host[len(host)-1] != '\n' {
		host = append(host, '\n')
	}
	host = fmt.Appendf(host, "# jujusim machine\n%s\t%s\n", m.Addr.Addr(), m.Hostname)
	return os.WriteFile(m.hostsFile(), host, 0o644)
}

// plugNetwork gives the machine its eth0 on the controller's bridge, its address and default route.
func (m *Machine) plugNetwork(ctx context.Context) error {
	if err := run(ctx, "ip", "link", "add", m.Veth, "type", "veth", "peer", "name", "eth0", "address", MAC(m.Addr.Addr()), "netns", m.nsFile("net")); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", m.Veth, "master", m.Bridge, "up"); err != nil {
		return err
	}
	batch := strings.Join([]string{
		"link set lo up",
		"addr add " + m.Addr.String() + " dev eth0",
		"link set eth0 up",
		"route add default via " + m.Gateway.String(),
	}, "\n") + "\n"
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+m.nsFile("net"), "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("configure eth0: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (m *Machine) save() error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(m.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(m.Dir, stateFile))
}

func load(dir string) (*Machine, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("load machine: %w", err)
	}
	var m Machine
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("load machine %s: %w", dir, err)
	}
	m.Dir = filepath.Clean(dir)
	return &m, nil
}

// Load reattaches to the machine in dir. It fails if the machine's namespaces are gone (after a host
// reboot, say); Destroy on such a machine still cleans up what is left, CleanupAll does too.
func Load(dir string) (*Machine, error) {
	m, err := load(dir)
	if err != nil {
		return nil, err
	}
	for _, k := range nsKinds {
		if !isNSFile(m.nsFile(k)) {
			return m, fmt.Errorf("load machine %s: namespace %s is gone (host rebooted or machine half-destroyed?)", m.Hostname, m.nsFile(k))
		}
	}
	return m, nil
}

// Command prepares a command run inside the machine, as root, in /. Processes it starts stay in the
// machine after it exits. As with any exec.Cmd, a daemon that inherits a stdout pipe keeps Output
// waiting: redirect daemons' output or set WaitDelay.
func (m *Machine) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append(m.nsArgs(), "--wd=/", "--", name)
	cmd := exec.CommandContext(ctx, "nsenter", append(full, args...)...)
	cmd.Dir = "/"
	return cmd
}

// Attach bind-mounts the host directory src at dst inside the machine, creating dst. src is resolved
// in the machine, so it must not lie under one of PrivateDirs. dst should lie in a private
// directory: a mount point created elsewhere is created on the shared host filesystem.
func (m *Machine) Attach(src, dst string) error {
	if !filepath.IsAbs(src) || !filepath.IsAbs(dst) || filepath.Clean(dst) == "/" {
		return fmt.Errorf("attach %s at %s in %s: both paths must be absolute", src, dst, m.Hostname)
	}
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return fmt.Errorf("attach %s at %s in %s: source is not a directory", src, dst, m.Hostname)
	}
	for _, p := range PrivateDirs {
		if under(filepath.Clean(src), p) {
			return fmt.Errorf("attach %s at %s in %s: source lies under %s, which is private in machines", src, dst, m.Hostname, p)
		}
	}
	script := `if mountpoint -q "$1"; then echo "something is already mounted at $1" >&2; exit 1; fi
mkdir -p "$1" && mount --bind "$2" "$1"`
	return m.shell(fmt.Sprintf("attach %s at %s in %s", src, dst, m.Hostname), script, filepath.Clean(dst), filepath.Clean(src))
}

// Detach unmounts what Attach mounted at dst and removes the mount point if empty.
func (m *Machine) Detach(dst string) error {
	script := `if ! mountpoint -q "$1"; then echo "nothing is attached at $1" >&2; exit 1; fi
umount "$1" && { rmdir "$1" 2>/dev/null || true; }`
	return m.shell(fmt.Sprintf("detach %s in %s", dst, m.Hostname), script, filepath.Clean(dst))
}

func (m *Machine) shell(what, script string, args ...string) error {
	cmd := m.Command(context.Background(), "sh", append([]string{"-c", script, "sh"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Destroy stops every process in the machine (SIGTERM, then SIGKILL after StopTimeout), removes its
// network interface, unmounts its namespaces (the mount namespace and all its mounts go with the
// last reference) and deletes Dir. It also finishes off a half-created or half-destroyed machine.
func (m *Machine) Destroy(ctx context.Context) error {
	ids, err := m.nsIDs()
	if err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	// Open namespace files hold the namespaces, so that their ids cannot be reused by another
	// machine's before the last check below.
	for _, kind := range []string{"net", "mnt"} {
		if f, err := os.Open(m.nsFile(kind)); err == nil {
			defer f.Close()
		}
	}
	if err := stopProcesses(ctx, ids, StopTimeout); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	if err := deleteLink(ctx, m.Veth); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	if err := unmountAllUnder(m.Dir); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	// A command entering the machine (through its namespace files) while the processes were being
	// stopped would otherwise keep the namespaces alive; with the files gone, none can enter now.
	if err := stopProcesses(ctx, ids, 0); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	if err := os.RemoveAll(m.Dir); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	return nil
}

// CleanupAll destroys every machine found under root (up to three levels down) and removes every
// bridge whose name starts with bridgePrefix, with the veths plugged into it and our firewall
// rules: after it, nothing of jujusim's is left on the host.
func CleanupAll(ctx context.Context, root, bridgePrefix string) error {
	if bridgePrefix == "" {
		return errors.New("cleanup: an empty bridge prefix would match every bridge on the host")
	}
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) || root == "/" {
		return fmt.Errorf("cleanup: machine root %q must be an absolute path below /", root)
	}
	var errs []error
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if _, err := os.Stat(filepath.Join(path, stateFile)); err == nil {
			dirs = append(dirs, path)
			return fs.SkipDir
		}
		if strings.Count(strings.TrimPrefix(path, root), "/") >= 3 {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("cleanup: find machines under %s: %w", root, err))
	}
	for _, dir := range dirs {
		if IsSystem(dir) {
			m, err := LoadSystem(dir)
			if err == nil {
				err = m.Destroy(ctx)
			}
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		m, err := load(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := m.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountStrayNS(root); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: %w", err))
	}
	links, err := listLinks(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for name, l := range links {
		if l.kind() == "bridge" && strings.HasPrefix(name, bridgePrefix) {
			if err := RemoveNetwork(ctx, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := removeForwardRules(ctx, func(b string) bool { return strings.HasPrefix(b, bridgePrefix) }); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: %w", err))
	}
	if err := unconfine(ctx, func(b string) bool { return strings.HasPrefix(b, bridgePrefix) }); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: %w", err))
	}
	return errors.Join(errs...)
}
