package machine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// LockDir holds the flock files that serialise network changes and machine creation between
// concurrent jujusim processes.
var LockDir = "/run/jujusim"

// firewallTag marks the FORWARD rules we add, so that removal finds exactly ours.
const firewallTag = "jujusim:"

// EnsureNetwork creates (or checks) the bridge for one controller: the bridge carries the subnet's
// first address, which is where host-side test servers listen and the machines' default gateway.
// Forwarding between bridges is enabled so machines of different controllers reach each other with
// their own source addresses (no NAT anywhere). Safe to call repeatedly and concurrently.
func EnsureNetwork(ctx context.Context, bridge string, subnet netip.Prefix) (netip.Addr, error) {
	if err := validLinkName(bridge); err != nil {
		return netip.Addr{}, err
	}
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
	want := netip.PrefixFrom(host, subnet.Bits())
	l, exists := links[bridge]
	if exists {
		if l.kind() != "bridge" {
			return netip.Addr{}, fmt.Errorf("network %s: interface %s exists and is not a bridge (%q)", subnet, bridge, l.kind())
		}
		for _, a := range l.inet() {
			if a != want {
				return netip.Addr{}, fmt.Errorf("network %s: bridge %s already carries %s", subnet, bridge, a)
			}
		}
	}
	if err := checkSubnetFree(ctx, subnet, links, func(name string, _ link) bool { return name == bridge }); err != nil {
		return netip.Addr{}, err
	}
	// A bridge without an address of its own takes the lowest of its ports' and changes it when
	// that port goes, leaving machines with a stale ARP entry for their gateway: fix it.
	mac := bridgeMAC(bridge)
	if !exists {
		if err := run(ctx, "ip", "link", "add", "name", bridge, "address", mac, "type", "bridge"); err != nil {
			return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
		}
	} else if l.Address != mac {
		if err := run(ctx, "ip", "link", "set", "dev", bridge, "address", mac); err != nil {
			return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
		}
	}
	if len(l.inet()) == 0 {
		if err := run(ctx, "ip", "addr", "add", want.String(), "dev", bridge); err != nil {
			return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
		}
	}
	if err := run(ctx, "ip", "link", "set", bridge, "up"); err != nil {
		return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return netip.Addr{}, fmt.Errorf("network %s: enable forwarding: %w", subnet, err)
	}
	if err := allowForward(ctx, bridge, subnet); err != nil {
		return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
	}
	if err := confine(ctx, bridge, subnet); err != nil {
		return netip.Addr{}, fmt.Errorf("network %s: %w", subnet, err)
	}
	return host, nil
}

// CheckSubnetFree refuses a subnet that overlaps an address or a route of any host interface. The
// one exception is the bridge EnsureNetwork makes for this very subnet, so that checking again after
// creating it is not an error; other jujusim bridges count as clashes, since two controllers with
// overlapping subnets could not route to each other.
func CheckSubnetFree(subnet netip.Prefix) error {
	ctx := context.Background()
	subnet, host, err := bridgeAddr(subnet)
	if err != nil {
		return err
	}
	links, err := listLinks(ctx)
	if err != nil {
		return err
	}
	ours := netip.PrefixFrom(host, subnet.Bits())
	return checkSubnetFree(ctx, subnet, links, func(_ string, l link) bool {
		a := l.inet()
		return l.kind() == "bridge" && len(a) == 1 && a[0] == ours
	})
}

// checkSubnetFree looks for clashes on every interface except those isOurs accepts.
func checkSubnetFree(ctx context.Context, subnet netip.Prefix, links map[string]link, isOurs func(string, link) bool) error {
	exempt := map[string]bool{}
	for name, l := range links {
		exempt[name] = isOurs(name, l)
	}
	for name, l := range links {
		if exempt[name] {
			continue
		}
		for _, a := range l.inet() {
			if a.Overlaps(subnet) {
				return fmt.Errorf("subnet %s overlaps address %s of host interface %s: choose another subnet", subnet, a, name)
			}
		}
	}
	out, err := output(ctx, "ip", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return fmt.Errorf("check subnet %s: %w", subnet, err)
	}
	var routes []struct {
		Dst, Dev, Table, Type string
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return fmt.Errorf("check subnet %s: parse routes: %w", subnet, err)
	}
	for _, r := range routes {
		if r.Dst == "default" || exempt[r.Dev] {
			continue
		}
		p, err := parsePrefix(r.Dst)
		if err != nil || p.Bits() == 0 || !p.Overlaps(subnet) {
			continue
		}
		where := "interface " + r.Dev
		if r.Dev == "" {
			where = "no interface"
		}
		table := r.Table
		if table == "" {
			table = "main"
		}
		return fmt.Errorf("subnet %s overlaps host route %s (%s, table %s): choose another subnet", subnet, r.Dst, where, table)
	}
	return nil
}

// RemoveNetwork deletes the bridge, the machines' veths still plugged into it and our firewall rules
// for it. Machines left on it lose their network; destroy them first. A missing bridge is not an error.
func RemoveNetwork(ctx context.Context, bridge string) error {
	if err := validLinkName(bridge); err != nil {
		return err
	}
	unlock, err := lockFile("network.lock")
	if err != nil {
		return err
	}
	defer unlock()
	links, err := listLinks(ctx)
	if err != nil {
		return err
	}
	for name, l := range links {
		if l.Master == bridge && l.kind() == "veth" {
			if err := deleteLink(ctx, name); err != nil {
				return fmt.Errorf("remove network %s: %w", bridge, err)
			}
		}
	}
	if _, ok := links[bridge]; ok {
		if err := deleteLink(ctx, bridge); err != nil {
			return fmt.Errorf("remove network %s: %w", bridge, err)
		}
	}
	if err := removeForwardRules(ctx, func(b string) bool { return b == bridge }); err != nil {
		return fmt.Errorf("remove network %s: %w", bridge, err)
	}
	if err := unconfine(ctx, func(b string) bool { return b == bridge }); err != nil {
		return fmt.Errorf("remove network %s: %w", bridge, err)
	}
	return nil
}

// Priorities of our policy routing rules, just before the main table's (32766).
const (
	rulePrioRoutes      = 31000
	rulePrioUnreachable = 31001
)

// rule is the part of `ip -j rule show` we use.
type rule struct {
	Priority int    `json:"priority"`
	Src      string `json:"src"`
	SrcLen   int    `json:"srclen"`
	IIf      string `json:"iif"`
}

// confine keeps the machines' traffic on the host: packets they send may follow any route of the
// host's except the default one, which would carry them, un-NATed, out of the host (a DNS query
// to the host's resolver, say). Such packets get "network unreachable" at once instead, so
// lookups fail fast rather than time out.
func confine(ctx context.Context, bridge string, subnet netip.Prefix) error {
	rules, err := listRules(ctx)
	if err != nil {
		return err
	}
	have := map[int]bool{}
	for _, r := range rules {
		if r.IIf == bridge && r.Src == subnet.Addr().String() && r.SrcLen == subnet.Bits() {
			have[r.Priority] = true
		}
	}
	sel := []string{"from", subnet.String(), "iif", bridge}
	for prio, action := range map[int][]string{
		rulePrioRoutes:      {"lookup", "main", "suppress_prefixlength", "0"},
		rulePrioUnreachable: {"unreachable"},
	} {
		if have[prio] {
			continue
		}
		args := append(append([]string{"rule", "add", "priority", strconv.Itoa(prio)}, sel...), action...)
		if err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("confine machines: %w", err)
		}
	}
	return nil
}

// unconfine removes confine's rules for the bridges match selects.
func unconfine(ctx context.Context, match func(bridge string) bool) error {
	rules, err := listRules(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if (r.Priority != rulePrioRoutes && r.Priority != rulePrioUnreachable) || r.IIf == "" || !match(r.IIf) {
			continue
		}
		from := fmt.Sprintf("%s/%d", r.Src, r.SrcLen)
		if err := run(ctx, "ip", "rule", "del", "priority", strconv.Itoa(r.Priority), "from", from, "iif", r.IIf); err != nil {
			return fmt.Errorf("remove routing rule: %w", err)
		}
	}
	return nil
}

func listRules(ctx context.Context) ([]rule, error) {
	out, err := output(ctx, "ip", "-j", "-4", "rule", "show")
	if err != nil {
		return nil, fmt.Errorf("list routing rules: %w", err)
	}
	var rules []rule
	if err := json.Unmarshal(out, &rules); err != nil {
		return nil, fmt.Errorf("list routing rules: parse: %w", err)
	}
	return rules, nil
}

// MAC is the hardware address of a machine's eth0 with address a: locally administered, stable, so
// that what network-get reports is what the machine has. (02:6a: then FNV-1a of the address text.)
func MAC(a netip.Addr) string {
	return hashMAC(0x6a, a.String())
}

func bridgeMAC(bridge string) string {
	return hashMAC(0x6b, bridge)
}

func hashMAC(kind byte, s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	v := h.Sum32()
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", kind, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// bridgeAddr validates a controller subnet and returns it masked with the bridge's (first) address.
func bridgeAddr(subnet netip.Prefix) (netip.Prefix, netip.Addr, error) {
	if !subnet.IsValid() {
		return subnet, netip.Addr{}, errors.New("invalid subnet")
	}
	if !subnet.Addr().Is4() {
		return subnet, netip.Addr{}, fmt.Errorf("subnet %s: only IPv4 subnets are supported", subnet)
	}
	if subnet.Bits() < 8 || subnet.Bits() > 29 {
		return subnet, netip.Addr{}, fmt.Errorf("subnet %s: prefix length must be between /8 and /29", subnet)
	}
	subnet = subnet.Masked()
	return subnet, subnet.Addr().Next(), nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validLinkName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") {
		return fmt.Errorf("invalid interface name %q: 1 to 15 characters, no '/', ':' or spaces", name)
	}
	return nil
}

// link is the part of `ip -j -d addr show` we use.
type link struct {
	Name     string `json:"ifname"`
	Master   string `json:"master"`
	Address  string `json:"address"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func (l link) kind() string { return l.LinkInfo.Kind }

func (l link) inet() []netip.Prefix {
	var ps []netip.Prefix
	for _, a := range l.AddrInfo {
		if a.Family != "inet" {
			continue
		}
		if addr, err := netip.ParseAddr(a.Local); err == nil {
			ps = append(ps, netip.PrefixFrom(addr, a.PrefixLen))
		}
	}
	return ps
}

func listLinks(ctx context.Context) (map[string]link, error) {
	out, err := output(ctx, "ip", "-j", "-d", "addr", "show")
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var ls []link
	if err := json.Unmarshal(out, &ls); err != nil {
		return nil, fmt.Errorf("list interfaces: parse: %w", err)
	}
	m := make(map[string]link, len(ls))
	for _, l := range ls {
		m[l.Name] = l
	}
	return m, nil
}

// deleteLink deletes an interface; one that vanished meanwhile (the other end of a veth) is fine.
func deleteLink(ctx context.Context, name string) error {
	err := run(ctx, "ip", "link", "del", name)
	if err != nil && (strings.Contains(err.Error(), "Cannot find device") || strings.Contains(err.Error(), "No such device")) {
		return nil
	}
	return err
}

// allowForward makes sure an iptables FORWARD policy of DROP (Docker and ufw set one) does not cut
// our machines off. Without iptables nothing can drop forwarded packets there. Rulesets written
// directly in nftables (firewalld) are not handled.
func allowForward(ctx context.Context, bridge string, subnet netip.Prefix) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	if _, err := output(ctx, "iptables", "-w", "-S", "FORWARD"); err != nil {
		return nil // no usable filter table: nothing filters forwarding
	}
	for _, dir := range []string{"-s", "-d"} {
		rule := []string{"FORWARD", dir, subnet.String(), "-m", "comment", "--comment", firewallTag + bridge, "-j", "ACCEPT"}
		if run(ctx, "iptables", append([]string{"-w", "-C"}, rule...)...) == nil {
			continue
		}
		if err := run(ctx, "iptables", append([]string{"-w", "-I"}, rule...)...); err != nil {
			return fmt.Errorf("allow forwarding: %w", err)
		}
	}
	return nil
}

// removeForwardRules deletes the FORWARD rules allowForward added for the bridges match selects.
func removeForwardRules(ctx context.Context, match func(bridge string) bool) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	out, err := output(ctx, "iptables", "-w", "-S", "FORWARD")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		for i := range f {
			f[i] = strings.Trim(f[i], `"`) // iptables-nft quotes comments; none of ours has spaces
		}
		ours := false
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "--comment" && strings.HasPrefix(f[i+1], firewallTag) && match(strings.TrimPrefix(f[i+1], firewallTag)) {
				ours = true
			}
		}
		if !ours {
			continue
		}
		f[0] = "-D"
		if err := run(ctx, "iptables", append([]string{"-w"}, f...)...); err != nil {
			return fmt.Errorf("remove forwarding rule: %w", err)
		}
	}
	return nil
}

// lockFile takes an exclusive flock on a file under LockDir; the returned func releases it.
func lockFile(name string) (func(), error) {
	if err := os.MkdirAll(LockDir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return lockPath(filepath.Join(LockDir, name))
}

// run runs a host command, folding its output into the error so failures explain themselves.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}
