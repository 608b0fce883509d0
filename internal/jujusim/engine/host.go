package engine

import (
	"context"
	"net/netip"
	"os/exec"

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

// NamespaceHost is the real Host.
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
