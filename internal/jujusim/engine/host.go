package engine

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/image"
	"github.com/pgcharm/postgresql/internal/jujusim/machine"
)

// Host provisions machines; the real one is the machine package (namespaces on bridges).
// Tests of pure engine logic can substitute another.
type Host interface {
	EnsureNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error)
	CheckSubnetFree(subnet netip.Prefix) error
	RemoveNetwork(ctx context.Context, bridge string) error
	Create(ctx context.Context, spec MachineSpec) (Machine, error)
	Load(dir string) (Machine, error)
	CleanupAll(ctx context.Context, root, bridgePrefix string) error
}

// MachineSpec mirrors machine.Spec.
type MachineSpec struct {
	Dir, Hostname, Bridge string
	Addr                  netip.Prefix
	Gateway               netip.Addr
}

// Machine is one provisioned machine.
type Machine interface {
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
	Attach(src, dst string) error
	Detach(dst string) error
	Processes() ([]int, error)
	Destroy(ctx context.Context) error
}

// DefaultHost is the Host of a jujusim home: system machines (systemd as PID 1 on the
// default image), or namespace machines when JUJUSIM_MACHINES=namespace.
// JUJUSIM_BOOT_TIMEOUT bounds a machine's boot (default 2m).
func DefaultHost(home string) Host {
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_BOOT_TIMEOUT")); err == nil && d > 0 {
		machine.BootTimeout = d
	}
	if os.Getenv("JUJUSIM_MACHINES") == "namespace" {
		return NamespaceHost{}
	}
	return &SystemHost{Home: home}
}

// NamespaceHost makes namespace machines, which share the host's root filesystem.
type NamespaceHost struct{}

// EnsureNetwork implements Host.
func (NamespaceHost) EnsureNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error) {
	return machine.EnsureNetwork(ctx, bridge, subnet)
}

// CheckSubnetFree implements Host.
func (NamespaceHost) CheckSubnetFree(subnet netip.Prefix) error {
	return machine.CheckSubnetFree(subnet)
}

// RemoveNetwork implements Host.
func (NamespaceHost) RemoveNetwork(ctx context.Context, bridge string) error {
	return machine.RemoveNetwork(ctx, bridge)
}

// Create implements Host.
func (NamespaceHost) Create(ctx context.Context, s MachineSpec) (Machine, error) {
	m, err := machine.Create(ctx, machine.Spec{Dir: s.Dir, Hostname: s.Hostname, Bridge: s.Bridge, Addr: s.Addr, Gateway: s.Gateway})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Load implements Host.
func (NamespaceHost) Load(dir string) (Machine, error) {
	m, err := machine.Load(dir)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// CleanupAll implements Host.
func (NamespaceHost) CleanupAll(ctx context.Context, root, bridgePrefix string) error {
	return machine.CleanupAll(ctx, root, bridgePrefix)
}

// SystemHost makes system machines: systemd as PID 1 on an overlay of the default image
// (built on first use), with the home bind-mounted at its own path inside (where hook tools
// find the state) and its bin directory (the jujusim binary) read-only. JUJUSIM_SHARED lists
// more host directories (colon-separated) that machines see at the same path.
type SystemHost struct {
	NamespaceHost
	Home string
}

// Create implements Host.
func (h *SystemHost) Create(ctx context.Context, s MachineSpec) (Machine, error) {
	img, err := image.Ensure(ctx, image.CacheDir(), image.Default(), os.Stderr)
	if err != nil {
		return nil, err
	}
	home, err := filepath.Abs(h.Home)
	if err != nil {
		return nil, err
	}
	// The tools' binary is put in bin/ later; the directory must exist at boot to be bound
	// read-only.
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		return nil, err
	}
	shared := []string{home}
	for _, d := range filepath.SplitList(os.Getenv("JUJUSIM_SHARED")) {
		if d = strings.TrimSpace(d); filepath.IsAbs(d) {
			shared = append(shared, d)
		}
	}
	m, err := machine.CreateSystem(ctx, machine.SystemSpec{
		Spec: machine.Spec{Dir: s.Dir, Hostname: s.Hostname, Bridge: s.Bridge, Addr: s.Addr, Gateway: s.Gateway},
		// A reboot or poweroff from inside the machine reaches the engine (MachineExited).
		OnExit:   onExit(home),
		Image:    img.Root(),
		Shared:   shared,
		ReadOnly: []string{filepath.Join(home, "bin")},
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Load implements Host; it also loads the namespace machines of an older home.
func (h *SystemHost) Load(dir string) (Machine, error) {
	if !machine.IsSystem(dir) {
		return NamespaceHost{}.Load(dir)
	}
	m, err := machine.LoadSystem(dir)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// onExit is the command a machine's keeper runs when PID 1 ends unasked (MachineExited). The
// keeper has none of the creating command's environment, so the lease time a test set is
// passed on: the poweroff it reports starts the lease of the machine's units.
func onExit(home string) []string {
	cmd := []string{"/usr/bin/env", "JUJUSIM_HOME=" + home}
	if v := os.Getenv("JUJUSIM_LEASE_TIME"); v != "" {
		cmd = append(cmd, "JUJUSIM_LEASE_TIME="+v)
	}
	return append(cmd, filepath.Join(home, "bin", "jujusim"), "machine-exited")
}
