package tools

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/machine"
)

func init() {
	register("network-get", networkGet, false, "smart")
	register("unit-get", unitGet, false, "smart")
}

type netAddress struct {
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Value    string `yaml:"value" json:"value"`
	CIDR     string `yaml:"cidr" json:"cidr"`
	Address  string `yaml:"address" json:"-"`
}

type netInterface struct {
	MACAddress    string       `yaml:"mac-address" json:"mac-address"`
	InterfaceName string       `yaml:"interface-name" json:"interface-name"`
	Addresses     []netAddress `yaml:"addresses" json:"addresses"`
	MACLegacy     string       `yaml:"macaddress" json:"-"`
	IfaceLegacy   string       `yaml:"interfacename" json:"-"`
}

type netInfo struct {
	BindAddresses    []netInterface `yaml:"bind-addresses,omitempty" json:"bind-addresses,omitempty"`
	EgressSubnets    []string       `yaml:"egress-subnets,omitempty" json:"egress-subnets,omitempty"`
	IngressAddresses []string       `yaml:"ingress-addresses,omitempty" json:"ingress-addresses,omitempty"`
}

// MACAddress is the MAC of the machine's eth0 with address ip (the machine package makes it
// from the address, so network-get reports what the machine has).
func MACAddress(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return machine.MAC(a)
}

func networkGet(c *call) error {
	rf := c.relationFlag()
	var bind, ingress, egress, primary bool
	c.fs.Bool(&bind, "bind-address")
	c.fs.Bool(&ingress, "ingress-address")
	c.fs.Bool(&egress, "egress-subnets")
	c.fs.Bool(&primary, "primary-address")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("no arguments specified")
	}
	binding := args[0]
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	if primary && (bind || ingress || egress) {
		return cmdline.Usagef("--primary-address must be the only flag specified")
	}
	known := binding == "juju-info"
	if _, ok := c.app.Endpoints[binding]; ok {
		known = true
	}
	for _, b := range c.app.ExtraBindings {
		if b == binding {
			known = true
		}
	}
	if !known {
		return fmt.Errorf("no network config found for binding %q", binding)
	}
	mc := c.machine()
	if mc == nil || mc.Addr == "" {
		return fmt.Errorf("no addresses attached to space for binding %q", binding)
	}
	cidr := mc.Addr + "/" + strconv.Itoa(mc.Prefix)
	if ctrl := c.st.Controllers[c.m.Controller]; ctrl != nil {
		cidr = ctrl.Subnet
	}
	// The relation (-r, else the hook's) decides ingress and egress: the public address on
	// a cross-model relation. The bind address stays the private one.
	ing, eg := RelationAddresses(c.m, mc, rf.rel, rf.side)
	if primary {
		return c.write(mc.Addr)
	}
	flags := 0
	for _, b := range []bool{bind, ingress, egress} {
		if b {
			flags++
		}
	}
	if flags == 1 {
		switch {
		case bind:
			return c.write(mc.Addr)
		case ingress:
			return c.write(ing)
		default:
			return c.write(eg)
		}
	}
	if flags > 1 {
		res := map[string]any{}
		if bind {
			res["bind-address"] = mc.Addr
		}
		if ingress {
			res["ingress-address"] = ing
		}
		if egress {
			res["egress-subnets"] = eg
		}
		return c.write(res)
	}
	mac := MACAddress(mc.Addr)
	addrs := []netAddress{{Value: mc.Addr, CIDR: cidr, Address: mc.Addr}}
	if mc.PublicAddr != "" {
		pub := mc.PublicAddr + "/" + strconv.Itoa(mc.PublicPrefix)
		if ctrl := c.st.Controllers[c.m.Controller]; ctrl != nil && ctrl.PublicSubnet != "" {
			pub = ctrl.PublicSubnet
		}
		addrs = append(addrs, netAddress{Value: mc.PublicAddr, CIDR: pub, Address: mc.PublicAddr})
	}
	info := netInfo{
		BindAddresses: []netInterface{{
			MACAddress: mac, InterfaceName: "eth0", MACLegacy: mac, IfaceLegacy: "eth0",
			Addresses: addrs,
		}},
		EgressSubnets:    eg,
		IngressAddresses: []string{ing},
	}
	return c.write(info)
}

func unitGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("no setting specified")
	}
	if args[0] != "private-address" && args[0] != "public-address" {
		return cmdline.Usagef("unknown setting %q", args[0])
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	mc := c.machine()
	if mc == nil || mc.Addr == "" {
		if args[0] == "public-address" {
			return fmt.Errorf("public address not found")
		}
		return fmt.Errorf("private address not found")
	}
	if args[0] == "public-address" && mc.PublicAddr != "" {
		return c.write(mc.PublicAddr)
	}
	return c.write(mc.Addr)
}
