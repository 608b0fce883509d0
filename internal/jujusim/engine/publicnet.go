package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/machine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// publicNetworker is a Host that can give a controller's machines public addresses.
type publicNetworker interface {
	AddPublicNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error)
}

// AddPublicNetwork implements publicNetworker (system machines inherit it).
func (NamespaceHost) AddPublicNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error) {
	return machine.AddPublicNetwork(ctx, bridge, subnet)
}

// publicSubnet picks a free /24 for a controller's public addresses in 198.18.0.0/16 (set
// aside for network tests, RFC 2544: never a real host's).
func (e *Engine) publicSubnet(st *state.State, tried map[string]bool) (netip.Prefix, error) {
	used := map[string]bool{}
	for p := range tried {
		used[p] = true
	}
	for _, c := range st.Controllers {
		used[c.PublicSubnet] = true
	}
	h := fnv.New32a()
	h.Write([]byte(e.Home + "/public"))
	start := int(h.Sum32() % 200)
	for i := 0; i < 250; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", (start+i)%250+1)) // in PublicRange
		if used[p.String()] {
			continue
		}
		if err := e.Host.CheckSubnetFree(p); err == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /24 left in 198.18.0.0/16 for public addresses")
}

// ensurePublicNetwork gives a new controller its public subnet, when the host can.
func (e *Engine) ensurePublicNetwork(ctx context.Context, name string) error {
	pn, ok := e.Host.(publicNetworker)
	if !ok {
		return nil
	}
	var host netip.Addr
	tried := map[string]bool{}
	for attempt := 0; ; attempt++ {
		var bridge string
		var subnet netip.Prefix
		err := e.Store.Update(func(st *state.State) error {
			c := st.Controllers[name]
			p, err := e.publicSubnet(st, tried)
			if err != nil {
				return err
			}
			c.PublicSubnet, bridge, subnet = p.String(), c.Bridge, p
			return nil
		})
		if err != nil {
			return err
		}
		// Another home may take the subnet between the check and the claim (both under
		// the host's network lock in AddPublicNetwork): try the next one.
		host, err = pn.AddPublicNetwork(ctx, bridge, subnet)
		if err == nil {
			break
		}
		tried[subnet.String()] = true
		if attempt >= 5 {
			return err
		}
	}
	return e.Store.Update(func(st *state.State) error {
		st.Controllers[name].PublicHostAddr = host.String()
		return nil
	})
}

// publicAddr is the public address with the same host number as private addr.
func publicAddr(ctrl *state.Controller, addr netip.Addr) (netip.Addr, int) {
	pub, err := netip.ParsePrefix(ctrl.PublicSubnet)
	priv, err2 := netip.ParsePrefix(ctrl.Subnet)
	if err != nil || err2 != nil || ctrl.PublicHostAddr == "" || pub.Bits() > priv.Bits() {
		return netip.Addr{}, 0
	}
	a, p := addr.As4(), pub.Masked().Addr().As4()
	mask := uint32(1)<<(32-pub.Bits()) - 1
	n := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) & mask
	base := uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
	v := base | n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), pub.Bits()
}

// PublicRange holds every controller's public subnet.
const PublicRange = "198.18.0.0/16"

// plugPublic adds the machine's public address to its eth0, with a route to the other
// controllers' public subnets from it (through the host's public address), so that what a
// unit sends to a public address comes from its own public address. A system machine keeps
// them across reboots.
func plugPublic(ctx context.Context, mach Machine, mc state.Machine, gateway string) error {
	if mc.PublicAddr == "" || gateway == "" {
		return nil
	}
	pfx := fmt.Sprintf("%s/%d", mc.PublicAddr, mc.PublicPrefix)
	if sys, ok := mach.(*machine.System); ok {
		addr, err := netip.ParsePrefix(pfx)
		if err != nil {
			return err
		}
		gw, err := netip.ParseAddr(gateway)
		if err != nil {
			return err
		}
		return sys.AddPublic(ctx, addr, gw, netip.MustParsePrefix(PublicRange))
	}
	out, err := mach.Command(ctx, "sh", "-c", `ip addr replace "$1" dev eth0
ip route replace "$2" via "$3" dev eth0 src "${1%/*}"`, "sh", pfx, PublicRange, gateway).CombinedOutput()
	if err != nil {
		return fmt.Errorf("public address %s on %s: %w: %s", pfx, mc.Hostname, err, strings.TrimSpace(string(out)))
	}
	return nil
}
