package machine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/flock"
	"golang.org/x/sys/unix"
)

// System is a machine that boots an image with systemd as PID 1, like the LXD system
// containers and cloud instances Juju gives a charm: its own PID, mount, UTS, IPC, network and
// cgroup namespaces, its root an overlay of the image (read-only, shared by every machine) and
// an upper directory of its own that lives as long as the machine:
//
//	Dir/machine.json   what LoadSystem reads (kind "system")
//	Dir/upper, work    the overlay's upper and work directories: the machine's disk
//	Dir/root           where the overlay is mounted, inside the machine's mount namespace only
//	Dir/console.log    what systemd and the boot script print
//
// Nothing of a machine is mounted on the host: its mounts live in its own mount namespace and
// go with its last process. Directories listed in Shared (jujusim's home, where hook tools
// find the state) are bind-mounted at the same path inside; ReadOnly ones read-only.
// Volumes are bind-mounted at their location (Attach) and again at every boot.
type System struct {
	Kind     string       `json:"kind"`
	Dir      string       `json:"dir"`
	Hostname string       `json:"hostname"`
	Bridge   string       `json:"bridge"`
	Addr     netip.Prefix `json:"addr"`
	Gateway  netip.Addr   `json:"gateway"`
	Veth     string       `json:"veth"`
	Image    string       `json:"image"` // the image's root filesystem
	Shared   []string     `json:"shared,omitempty"`
	ReadOnly []string     `json:"read-only,omitempty"`
	Attached []Attachment `json:"attached,omitempty"`
	Cgroup   string       `json:"cgroup"`
	CgroupV2 bool         `json:"cgroup-v2,omitempty"` // Cgroup is in a cgroup2 hierarchy
	// PID is the host PID of the machine's PID 1 (systemd) while it runs; PIDStart its start
	// time in clock ticks, which tells it from a later process that got the same PID.
	PID         int    `json:"pid,omitempty"`
	PIDStart    uint64 `json:"pid-start,omitempty"`
	Partitioned bool   `json:"partitioned,omitempty"`
	// Public is the machine's public address on eth0 beside Addr (AddPublic), with a route to
	// PublicRoute via PublicGateway from it; plugged again at every boot.
	Public        netip.Prefix `json:"public,omitempty"`
	PublicGateway netip.Addr   `json:"public-gateway,omitempty"`
	PublicRoute   netip.Prefix `json:"public-route,omitempty"`
	// OnExit runs, with Dir and the keeper's exit status as its last arguments, when PID 1
	// ends without Poweroff or Crash asking for it: a `systemctl reboot` (status 129,
	// SIGHUP: the kernel ends a PID namespace's init so on reboot(2)) or poweroff (130,
	// SIGINT) inside the machine, or PID 1 dying on its own. BootID names the current boot.
	OnExit []string `json:"on-exit,omitempty"`
	BootID string   `json:"boot-id,omitempty"`
}

// Exit statuses of the keeper (unshare re-raises the signal that ended PID 1).
const (
	ExitReboot   = 128 + int(syscall.SIGHUP)
	ExitPoweroff = 128 + int(syscall.SIGINT)
)

// Attachment is a host directory bind-mounted in a machine.
type Attachment struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// SystemSpec describes a System to create.
type SystemSpec struct {
	Spec
	OnExit   []string // see System.OnExit
	Image    string   // root filesystem of the image (image.Image.Root)
	Shared   []string // host directories seen at the same path inside (read-write)
	ReadOnly []string // host directories seen at the same path inside, read-only (may lie under Shared)
}

const systemKind = "system"

// BootTimeout bounds how long a boot may take before CreateSystem, Boot and Reboot give up
// (with the machine's journal in the error).
var BootTimeout = 2 * time.Minute

// CreateSystem makes a machine and boots it; it returns once systemd reports the system
// running (or degraded). On failure it removes whatever it had made.
func CreateSystem(ctx context.Context, s SystemSpec) (*System, error) {
	return createSystemSeeded(ctx, s, "")
}

// createSystemSeeded is CreateSystem with the upper directory taken from seed (tests use it
// to give a machine units of their own from its first boot).
func createSystemSeeded(ctx context.Context, s SystemSpec, seed string) (*System, error) {
	base, err := newMachine(s.Spec)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(s.Image, "lib/systemd/systemd")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("create machine %s: image %q has no systemd (build one with `jujusim image build`)", s.Hostname, s.Image)
	}
	m := &System{Kind: systemKind, Dir: base.Dir, Hostname: base.Hostname, Bridge: base.Bridge, Addr: base.Addr,
		Gateway: base.Gateway, Veth: base.Veth, Image: filepath.Clean(s.Image)}
	for _, d := range s.Shared {
		m.Shared = append(m.Shared, filepath.Clean(d))
	}
	for _, d := range s.ReadOnly {
		m.ReadOnly = append(m.ReadOnly, filepath.Clean(d))
	}
	m.OnExit = s.OnExit
	cgBase, v2, err := cgroupHierarchy()
	if err != nil {
		return nil, fmt.Errorf("create machine %s: %w", s.Hostname, err)
	}
	m.Cgroup, m.CgroupV2 = filepath.Join(cgBase, m.Veth), v2
	if entries, err := os.ReadDir(m.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("create machine %s: directory %s is not empty (another machine's?)", m.Hostname, m.Dir)
	}
	for _, d := range []string{"upper/etc", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(m.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
		}
	}
	if seed != "" {
		upper := filepath.Join(m.Dir, "upper")
		if err := os.RemoveAll(upper); err != nil {
			return nil, err
		}
		if err := os.Rename(seed, upper); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(upper, "etc"), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(m.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	if err := m.save(); err != nil {
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	err = m.identity()
	if err == nil {
		err = m.Boot(ctx)
	}
	if err != nil {
		if derr := m.Destroy(context.WithoutCancel(ctx)); derr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
		}
		return nil, fmt.Errorf("create machine %s: %w", m.Hostname, err)
	}
	return m, nil
}

// identity writes the machine's hostname, hosts file (its hostname resolves to its address)
// and machine id into its upper directory, so that they are its own from the first boot on.
func (m *System) identity() error {
	etc := filepath.Join(m.Dir, "upper", "etc")
	hosts, err := os.ReadFile(filepath.Join(m.Image, "etc", "hosts"))
	if err != nil {
		hosts = []byte("127.0.0.1\tlocalhost\n")
	}
	hosts = fmt.Appendf(hosts, "%s\t%s\n", m.Addr.Addr(), m.Hostname)
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"hostname":   []byte(m.Hostname + "\n"),
		"hosts":      hosts,
		"machine-id": []byte(hex.EncodeToString(id) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(etc, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// LoadSystem reads the machine in dir, running or not.
func LoadSystem(dir string) (*System, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("load machine: %w", err)
	}
	var m System
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("load machine %s: %w", dir, err)
	}
	if m.Kind != systemKind {
		return nil, fmt.Errorf("load machine %s: not a system machine", dir)
	}
	m.Dir = filepath.Clean(dir)
	return &m, nil
}

// IsSystem tells whether dir holds a System (rather than a namespace Machine).
func IsSystem(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return false
	}
	var k struct{ Kind string }
	return json.Unmarshal(data, &k) == nil && k.Kind == systemKind
}

func (m *System) save() error {
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

// current is the machine as its state file says now: another jujusim process may have
// rebooted it (new PID) since this one loaded it. m itself is never changed, so that
// concurrent hooks can share it.
func (m *System) current() *System {
	if cur, err := LoadSystem(m.Dir); err == nil {
		return cur
	}
	return m
}

// update runs f on the current state under the machine's lock and saves the result.
func (m *System) update(f func(cur *System) error) error {
	unlock, err := lockPath(filepath.Join(m.Dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := LoadSystem(m.Dir)
	if err != nil {
		return err
	}
	if err := f(cur); err != nil {
		return err
	}
	return cur.save()
}

// Running tells whether the machine's PID 1 runs.
func (m *System) Running() bool { return m.current().running() }

func (m *System) running() bool {
	return m.PID > 0 && procStart(m.PID) == m.PIDStart
}

// procStart is a process's start time (field 22 of /proc/PID/stat), 0 if it does not exist.
func procStart(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// Command prepares a command run inside the machine (all its namespaces and its root), as
// root, in /. Processes it starts stay in the machine after it exits and die with it. On a
// machine that is not running, the command fails to start.
func (m *System) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cur := m.current()
	if !cur.running() {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Err = fmt.Errorf("machine %s is not running", m.Hostname)
		return cmd
	}
	full := append([]string{"-t", strconv.Itoa(cur.PID), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	cmd.Dir = "/"
	return cmd
}

func (m *System) shell(ctx context.Context, what, script string, args ...string) error {
	cmd := m.Command(ctx, "/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Attach bind-mounts the host directory src at dst inside the machine, now if it runs and at
// every boot. src must lie in one of the machine's Shared directories (that is how the running
// machine sees it).
func (m *System) Attach(src, dst string) error {
	src, dst = filepath.Clean(src), filepath.Clean(dst)
	what := fmt.Sprintf("attach %s at %s in %s", src, dst, m.Hostname)
	if !filepath.IsAbs(src) || !filepath.IsAbs(dst) || dst == "/" {
		return fmt.Errorf("%s: both paths must be absolute", what)
	}
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: source is not a directory", what)
	}
	shared := false
	for _, s := range m.Shared {
		shared = shared || under(src, s)
	}
	if !shared {
		return fmt.Errorf("%s: source lies outside the directories shared with machines (%s)", what, strings.Join(m.Shared, ", "))
	}
	var running bool
	err := m.update(func(cur *System) error {
		for _, a := range cur.Attached {
			if a.Dst == dst {
				return fmt.Errorf("%s: %s is attached there already", what, a.Src)
			}
		}
		cur.Attached = append(cur.Attached, Attachment{Src: src, Dst: dst})
		running = cur.running()
		return nil
	})
	if err != nil || !running {
		return err
	}
	script := `if mountpoint -q "$1"; then echo "something is already mounted at $1" >&2; exit 1; fi
mkdir -p "$1" && mount --bind "$2" "$1"`
	if err := m.shell(context.Background(), what, script, dst, src); err != nil {
		_ = m.update(func(cur *System) error { cur.Attached = dropAttachment(cur.Attached, dst); return nil })
		return err
	}
	return nil
}

// Detach undoes Attach: unmounts dst if the machine runs and forgets it.
func (m *System) Detach(dst string) error {
	dst = filepath.Clean(dst)
	var running, found bool
	err := m.update(func(cur *System) error {
		n := len(cur.Attached)
		cur.Attached = dropAttachment(cur.Attached, dst)
		found = len(cur.Attached) < n
		running = cur.running()
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("detach %s in %s: nothing is attached there", dst, m.Hostname)
	}
	if !running {
		return nil
	}
	script := `if ! mountpoint -q "$1"; then echo "nothing is mounted at $1" >&2; exit 1; fi
umount "$1" && { rmdir "$1" 2>/dev/null || true; }`
	return m.shell(context.Background(), fmt.Sprintf("detach %s in %s", dst, m.Hostname), script, dst)
}

func dropAttachment(l []Attachment, dst string) []Attachment {
	var out []Attachment
	for _, a := range l {
		if a.Dst != dst {
			out = append(out, a)
		}
	}
	return out
}

// Processes lists the host PIDs of every process in the machine (its PID namespace), PID 1
// included; none when it is not running.
func (m *System) Processes() ([]int, error) {
	cur := m.current()
	if !cur.running() {
		return nil, nil
	}
	ids := map[nsID]bool{}
	for _, kind := range []string{"pid", "mnt"} {
		id, err := nsOf(fmt.Sprintf("/proc/%d/ns/%s", cur.PID, kind))
		if err != nil {
			return nil, nil // it ended meanwhile
		}
		ids[id] = true
	}
	pids, err := processesIn(ids, "pid", "mnt")
	if err != nil {
		return nil, err
	}
	return pids, nil
}

// Boot starts the machine unless it runs: systemd as PID 1 in fresh namespaces on the
// machine's overlay, its network plugged in, its volumes attached; it returns once systemd
// reports the system running or degraded, and fails with the machine's journal after
// BootTimeout.
func (m *System) Boot(ctx context.Context) error {
	unlock, err := lockPath(filepath.Join(m.Dir, "lock"))
	if err != nil {
		return err
	}
	cur, err := LoadSystem(m.Dir)
	if err != nil {
		unlock()
		return err
	}
	if cur.running() {
		unlock()
		return nil
	}
	err = cur.start(ctx)
	unlock()
	if err != nil {
		return fmt.Errorf("boot %s: %w", m.Hostname, err)
	}
	return cur.waitRunning(ctx)
}

// start launches PID 1 and plugs the network in; the caller holds the machine's lock.
func (m *System) start(ctx context.Context) error {
	if err := removeCgroup(m.Cgroup); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Cgroup, 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	fifo := filepath.Join(m.Dir, "boot.fifo")
	_ = os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("create %s: %w", fifo, err)
	}
	defer os.Remove(fifo)
	console, err := os.OpenFile(filepath.Join(m.Dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	fmt.Fprintf(console, "=== jujusim: boot %s at %s\n", m.Hostname, time.Now().UTC().Format(time.RFC3339Nano))
	// The keeper (unshare) waits for PID 1 and is not ours to wait for: it outlives this
	// process, in a session of its own, under a shell that runs OnExit when PID 1 ends
	// unasked (see expectExit).
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	m.BootID = hex.EncodeToString(b)
	keeper := exec.Command("/bin/sh", "-c", m.keeperScript(), "keeper", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--propagation", "private",
		"/bin/sh", "-c", stage1, "stage1", m.Cgroup, fifo, m.Hostname, m.stage2())
	keeper.Stdin, keeper.Stdout, keeper.Stderr = nil, console, console
	keeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	keeper.Dir = "/"
	keeper.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if err := keeper.Start(); err != nil {
		return fmt.Errorf("start machine: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- keeper.Wait() }()
	// stage1 moves itself into the machine's cgroup, then opens the fifo: once our open
	// succeeds, the cgroup holds exactly PID 1.
	w, err := openFifo(ctx, fifo, exited)
	if err != nil {
		return fmt.Errorf("start machine: %w (console: %s)", err, m.consoleTail())
	}
	defer w.Close()
	pid, err := cgroupInit(m.Cgroup)
	if err != nil {
		return fmt.Errorf("start machine: %w", err)
	}
	m.PID, m.PIDStart = pid, procStart(pid)
	if err := m.save(); err != nil {
		return err
	}
	if err := m.plug(ctx); err != nil {
		m.expectExit()
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return err
	}
	if _, err := w.Write([]byte("go\n")); err != nil {
		return fmt.Errorf("start machine: %w", err)
	}
	return nil
}

// keeperScript runs unshare with its arguments, then OnExit unless the exit was expected.
func (m *System) keeperScript() string {
	script := "unshare \"$@\"\nst=$?\n" +
		"marker=" + shellQuote(m.exitMarker()) + "\n" +
		"if [ -e \"$marker\" ]; then rm -f \"$marker\"; exit 0; fi\n"
	if len(m.OnExit) > 0 {
		var cmd []string
		for _, a := range m.OnExit {
			cmd = append(cmd, shellQuote(a))
		}
		script += "exec " + strings.Join(cmd, " ") + " " + shellQuote(m.Dir) + " \"$st\"\n"
	}
	return script
}

func (m *System) exitMarker() string { return filepath.Join(m.Dir, "exit-expected."+m.BootID) }

// expectExit tells the keeper of the current boot that PID 1's end is asked for (poweroff,
// crash, destroy), so that OnExit does not run.
func (m *System) expectExit() {
	if m.BootID != "" {
		_ = os.WriteFile(m.exitMarker(), nil, 0o600)
	}
}

// IsRunning tells whether the machine's PID 1 runs.
func (m *System) IsRunning() bool { return m.current().running() }

// openFifo opens the boot fifo for writing once stage1 has opened it for reading.
func openFifo(ctx context.Context, path string, exited <-chan error) (*os.File, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil, err
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the boot script ended early (%v)", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the boot script never became ready")
		}
	}
}

// stage1 runs as the machine's PID 1 in its new PID, mount, UTS, IPC and network namespaces,
// still with the host's root: it joins the machine's cgroup, waits until the host has plugged
// the network in, and starts stage2 in a cgroup namespace of its own.
// $1 cgroup, $2 fifo, $3 hostname, $4 stage2 script.
const stage1 = `set -e
echo 0 > "$1/cgroup.procs"
read go < "$2"
[ "$go" = go ] || { echo "jujusim: boot cancelled" >&2; exit 1; }
printf '%s' "$3" > /proc/sys/kernel/hostname
exec unshare --cgroup /bin/sh -c "$4" stage2
`

// stage2 mounts the machine's root and its kernel filesystems, pivots into it, binds the
// shared directories and volumes, and becomes systemd.
func (m *System) stage2() string {
	q := shellQuote
	r := q(filepath.Join(m.Dir, "root"))
	var b strings.Builder
	b.WriteString("set -e\nmount --make-rprivate /\n")
	fmt.Fprintf(&b, "mount -t overlay jujusim-root -o lowerdir=%s,upperdir=%s,workdir=%s %s\n",
		m.Image, filepath.Join(m.Dir, "upper"), filepath.Join(m.Dir, "work"), r)
	fmt.Fprintf(&b, "R=%s\n", r)
	b.WriteString(`mount -t proc proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
`)
	if m.CgroupV2 {
		// In the machine's cgroup namespace, a cgroup2 mount shows its own cgroup as the root.
		b.WriteString(`mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"` + "\n")
	} else {
		// Only the machine's name=systemd subtree, on a tmpfs made read-only: systemd would
		// otherwise mount the host's controller hierarchies and its unified one there, whose
		// roots (outside this subtree) every machine would share.
		b.WriteString(`mount -t tmpfs -o mode=755,nosuid,nodev,noexec jujusim-cgroup "$R/sys/fs/cgroup"
mkdir "$R/sys/fs/cgroup/systemd"
`)
		fmt.Fprintf(&b, "mount --bind %s \"$R/sys/fs/cgroup/systemd\"\n", q(m.Cgroup))
		b.WriteString(`mount -o remount,ro,nosuid,nodev,noexec,mode=755 jujusim-cgroup "$R/sys/fs/cgroup"` + "\n")
	}
	b.WriteString(`mount -t tmpfs -o mode=755,nosuid jujusim-dev "$R/dev"
for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev jujusim-shm "$R/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev jujusim-run "$R/run"
cd "$R"
mkdir -p .jujusim-host
pivot_root . .jujusim-host
cd /
`)
	// From here on paths resolve inside the machine; the host is under /.jujusim-host.
	// Shared directories missing on the host (yet) are skipped.
	for _, s := range m.Shared {
		fmt.Fprintf(&b, "if [ -d /.jujusim-host%[1]s ]; then mkdir -p %[1]s && mount --bind /.jujusim-host%[1]s %[1]s; fi\n", q(s))
	}
	for _, s := range m.ReadOnly {
		fmt.Fprintf(&b, "if [ -d /.jujusim-host%[1]s ]; then mkdir -p %[1]s && mount --bind /.jujusim-host%[1]s %[1]s && mount -o remount,bind,ro %[1]s; fi\n", q(s))
	}
	for _, a := range m.Attached {
		fmt.Fprintf(&b, "mkdir -p %s && mount --bind /.jujusim-host%s %s\n", q(a.Dst), q(a.Src), q(a.Dst))
	}
	b.WriteString(`umount -l /.jujusim-host
rmdir /.jujusim-host
exec env -i container=other PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system
`)
	return b.String()
}

// plug gives the running machine its eth0 on the bridge (unless partitioned, in which case the
// veth stays off the bridge), its address and default route.
func (m *System) plug(ctx context.Context) error {
	netns := fmt.Sprintf("/proc/%d/ns/net", m.PID)
	// The veth of a previous boot goes with its network namespace, which the kernel may still
	// be tearing down.
	var err error
	for i := 0; i < 100; i++ {
		if err = deleteLink(ctx, m.Veth); err != nil {
			return err
		}
		err = run(ctx, "ip", "link", "add", m.Veth, "type", "veth", "peer", "name", "eth0", "address", MAC(m.Addr.Addr()), "netns", netns)
		if err == nil || !strings.Contains(err.Error(), "exists") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if m.Partitioned {
		err = run(ctx, "ip", "link", "set", m.Veth, "up")
	} else {
		err = run(ctx, "ip", "link", "set", m.Veth, "master", m.Bridge, "up")
	}
	if err != nil {
		return err
	}
	lines := []string{
		"link set lo up",
		"addr add " + m.Addr.String() + " dev eth0",
		"link set eth0 up",
		"route add default via " + m.Gateway.String(),
	}
	lines = append(lines, m.publicLines()...)
	batch := strings.Join(lines, "\n") + "\n"
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netns, "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("configure eth0: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// publicLines are the ip commands that give eth0 the public address and its route.
func (m *System) publicLines() []string {
	if !m.Public.IsValid() {
		return nil
	}
	return []string{
		"addr replace " + m.Public.String() + " dev eth0",
		"route replace " + m.PublicRoute.String() + " via " + m.PublicGateway.String() + " dev eth0 src " + m.Public.Addr().String(),
	}
}

// AddPublic gives the machine a public address beside its private one, with a route to
// route (the public subnets of every controller) through gateway (the host's public address)
// from it, so that what it sends to a public address comes from its own. It holds across
// reboots.
func (m *System) AddPublic(ctx context.Context, addr netip.Prefix, gateway netip.Addr, route netip.Prefix) error {
	return m.update(func(cur *System) error {
		cur.Public, cur.PublicGateway, cur.PublicRoute = addr, gateway, route
		if !cur.running() {
			return nil
		}
		cmd := exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", cur.PID), "ip", "-batch", "-")
		cmd.Stdin = strings.NewReader(strings.Join(cur.publicLines(), "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("public address %s on %s: %w: %s", addr, cur.Hostname, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// waitRunning waits until systemd in the machine reports running or degraded.
func (m *System) waitRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	var state string
	for {
		cur := m.current()
		if !cur.running() {
			return fmt.Errorf("boot %s: PID 1 ended (console: %s)", m.Hostname, m.consoleTail())
		}
		// --wait returns once the boot is over; a unit that never finishes keeps it waiting
		// until ctx ends, and WaitDelay stops waiting for its stdout then.
		cmd := cur.Command(ctx, "systemctl", "is-system-running", "--wait")
		cmd.WaitDelay = time.Second
		out, _ := cmd.Output()
		state = strings.TrimSpace(string(out))
		if state == "running" || state == "degraded" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("boot %s: systemd did not finish booting within %s (is-system-running: %q)\n%s", m.Hostname, BootTimeout, state, m.Journal(context.Background()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Journal returns the failed units and the end of the machine's journal (or of its console
// when it is not running), for error messages.
func (m *System) Journal(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out := func(name string, args ...string) ([]byte, error) {
		cmd := m.Command(ctx, name, args...)
		cmd.WaitDelay = time.Second
		return cmd.CombinedOutput()
	}
	failed, _ := out("systemctl", "list-units", "--failed", "--no-pager", "--no-legend")
	jobs, _ := out("systemctl", "list-jobs", "--no-pager", "--no-legend")
	journal, err := out("journalctl", "-b", "--no-pager", "-q", "-n", "60")
	if err != nil {
		return "console of " + m.Hostname + ":\n" + m.consoleTail()
	}
	return fmt.Sprintf("failed units of %s:\n%s\njobs still running:\n%s\njournal of %s (last 60 lines):\n%s", m.Hostname, failed, jobs, m.Hostname, journal)
}

func (m *System) consoleTail() string {
	data, _ := os.ReadFile(filepath.Join(m.Dir, "console.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return strings.TrimSpace(string(data))
}

// Poweroff shuts the machine down cleanly (systemctl poweroff), killing it if it is still up
// after StopTimeout (which also bounds Destroy's clean shutdown). Its disk and volumes stay; Boot starts it again.
func (m *System) Poweroff(ctx context.Context) error {
	cur := m.current()
	if !cur.running() {
		return nil
	}
	cur.expectExit()
	// systemctl's connection drops when PID 1 goes: its error says nothing.
	_ = cur.Command(ctx, "systemctl", "poweroff", "--no-block").Run()
	if cur.waitGone(ctx, StopTimeout) {
		return nil
	}
	return m.Crash(ctx)
}

// Crash kills the machine's PID 1 with SIGKILL, which ends every process in it at once, as a
// power cut would. Its disk (the upper directory) and volumes stay as the crash left them.
func (m *System) Crash(ctx context.Context) error {
	cur := m.current()
	if !cur.running() {
		return nil
	}
	cur.expectExit()
	if err := syscall.Kill(cur.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("crash %s: %w", m.Hostname, err)
	}
	if !cur.waitGone(ctx, time.Minute) {
		return fmt.Errorf("crash %s: PID 1 (%d) survived SIGKILL for a minute", m.Hostname, cur.PID)
	}
	return nil
}

// Reboot powers the machine off cleanly and boots it again on the same disk and volumes.
func (m *System) Reboot(ctx context.Context) error {
	if err := m.Poweroff(ctx); err != nil {
		return err
	}
	return m.Boot(ctx)
}

// waitGone waits until PID 1 and every other process of the machine have ended.
func (m *System) waitGone(ctx context.Context, timeout time.Duration) bool {
	// The mount namespace also holds the keeper (unshare, in the host's PID namespace), which
	// ends right after PID 1.
	ids := map[nsID]bool{}
	for _, kind := range []string{"pid", "mnt"} {
		if id, err := nsOf(fmt.Sprintf("/proc/%d/ns/%s", m.PID, kind)); err == nil && m.running() {
			ids[id] = true
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, _ := processesIn(ids, "pid", "mnt")
		if !m.running() && len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Partition cuts the machine's network both ways (its veth leaves the bridge); processes keep
// running and connections resume after Heal if they have not timed out.
func (m *System) Partition(ctx context.Context) error {
	return m.update(func(cur *System) error {
		cur.Partitioned = true
		if !cur.running() {
			return nil
		}
		return run(ctx, "ip", "link", "set", cur.Veth, "nomaster")
	})
}

// Heal undoes Partition.
func (m *System) Heal(ctx context.Context) error {
	return m.update(func(cur *System) error {
		cur.Partitioned = false
		if !cur.running() {
			return nil
		}
		return run(ctx, "ip", "link", "set", cur.Veth, "master", cur.Bridge, "up")
	})
}

// IsPartitioned tells whether the machine's network is cut.
func (m *System) IsPartitioned() bool { return m.current().Partitioned }

// Destroy shuts the machine down (cleanly if it can within StopTimeout), removes its network
// interface and cgroup, and deletes Dir with the machine's disk. Volumes attached to it are
// host directories elsewhere and stay.
func (m *System) Destroy(ctx context.Context) error {
	cur := m.current()
	if err := cur.Poweroff(ctx); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	// Every part is cleaned even if another fails, so that a retry (or CleanupAll) has less
	// to do and nothing is leaked behind the first error.
	var errs []error
	if err := deleteLink(ctx, cur.Veth); err != nil {
		errs = append(errs, err)
	}
	if cur.Cgroup != "" {
		if err := removeCgroup(cur.Cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountAllUnder(m.Dir); err != nil {
		errs = append(errs, err)
	} else if err := os.RemoveAll(m.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy machine %s: %w", m.Hostname, err)
	}
	return nil
}

// cgroupHierarchy is where machines' cgroups go: the host's cgroup2 hierarchy when
// /sys/fs/cgroup is one (a host booted with systemd's unified hierarchy), else its cgroup v1
// name=systemd hierarchy (this one's), or the hybrid cgroup2 mount /sys/fs/cgroup/unified
// when JUJUSIM_CGROUP=v2 asks for it.
func cgroupHierarchy() (string, bool, error) {
	fsType := func(p string) int64 {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil {
			return 0
		}
		return int64(st.Type)
	}
	switch {
	case fsType("/sys/fs/cgroup") == unix.CGROUP2_SUPER_MAGIC:
		return "/sys/fs/cgroup/jujusim", true, nil
	case os.Getenv("JUJUSIM_CGROUP") == "v2" && fsType("/sys/fs/cgroup/unified") == unix.CGROUP2_SUPER_MAGIC:
		return "/sys/fs/cgroup/unified/jujusim", true, nil
	case fsType("/sys/fs/cgroup/systemd") == unix.CGROUP_SUPER_MAGIC:
		return "/sys/fs/cgroup/systemd/jujusim", false, nil
	}
	return "", false, errors.New("system machines need a cgroup2 hierarchy at /sys/fs/cgroup or a cgroup v1 name=systemd one at /sys/fs/cgroup/systemd (mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd)")
}

// checkCgroups tells whether this host can run system machines' cgroups.
func checkCgroups() error {
	_, _, err := cgroupHierarchy()
	return err
}

// cgroupInit returns the one process in a machine's fresh cgroup: its PID 1.
func cgroupInit(cg string) (int, error) {
	data, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) != 1 {
		return 0, fmt.Errorf("cgroup %s holds %d processes, want PID 1 alone", cg, len(f))
	}
	return strconv.Atoi(f[0])
}

// removeCgroup removes a cgroup and the ones systemd made under it, deepest first. It fails if
// a process still lives in one.
func removeCgroup(cg string) error {
	if _, err := os.Stat(cg); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for range 50 {
		last = nil
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
			}
		}
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // processes that just died may not have left yet
	}
	return last
}

// lockPath takes an exclusive flock on path; the returned func releases it.
func lockPath(path string) (func(), error) { return flock.Exclusive(path, 0o600) }
