package machine

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// AddPublicNetwork gives a controller's bridge (made by EnsureNetwork) a second subnet, where
// machines have their public addresses (AddAddress) beside their private ones: Juju machines
// have a private and a public address, and a cross-model relation uses the public one. The
// host takes the subnet's first address; machines on it are confined and forwarded like
// those of the bridge's own subnet, and RemoveNetwork removes it with the bridge.
func AddPublicNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error) {
	subnet, host, err := bridgeAddr(subnet)
	if err != nil {
		return netip.Addr{}, err
	}
	unlock, err := lockFile("network.lock")
	if err != nil {
		return netip.Addr{}, err
	}
	defer unlock()
	links, err := listLinks(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	l, ok := links[bridge]
	if !ok || l.kind() != "bridge" {
		return netip.Addr{}, fmt.Errorf("public network %s: no bridge %s", subnet, bridge)
	}
	want := netip.PrefixFrom(host, subnet.Bits())
	if !slices.Contains(l.inet(), want) {
		if err := checkSubnetFree(ctx, subnet, links, func(string, link) bool { return false }); err != nil {
			return netip.Addr{}, err
		}
		if err := run(ctx, "ip", "addr", "add", want.String(), "dev", bridge); err != nil {
			return netip.Addr{}, fmt.Errorf("public network %s: %w", subnet, err)
		}
	}
	if err := allowForward(ctx, bridge, subnet); err != nil {
		return netip.Addr{}, fmt.Errorf("public network %s: %w", subnet, err)
	}
	if err := confine(ctx, bridge, subnet); err != nil {
		return netip.Addr{}, fmt.Errorf("public network %s: %w", subnet, err)
	}
	return host, nil
}
