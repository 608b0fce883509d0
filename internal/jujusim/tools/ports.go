package tools

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("open-port", func(c *call) error { return portOp(c, true) }, true, "")
	register("close-port", func(c *call) error { return portOp(c, false) }, true, "")
	register("opened-ports", openedPorts, false, "smart")
}

// ParsePort normalises a port spec ("80", "80/tcp", "1000-2000/udp", "icmp").
func ParsePort(spec string) (string, error) {
	ports, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
		if ports == "icmp" {
			return "icmp", nil
		}
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp":
	case "icmp":
		return "", fmt.Errorf("protocol \"icmp\" doesn't support any ports; got %q", ports)
	default:
		return "", fmt.Errorf("invalid protocol %q, expected \"tcp\", \"udp\", or \"icmp\"", proto)
	}
	from, to, isRange := strings.Cut(ports, "-")
	f, err1 := strconv.Atoi(from)
	t := f
	var err2 error
	if isRange {
		t, err2 = strconv.Atoi(to)
	}
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("invalid port %q", ports)
	}
	if f < 1 || f > 65535 || t < 1 || t > 65535 || t < f {
		return "", fmt.Errorf("port range bounds must be between 1 and 65535, got %d-%d", f, t)
	}
	if isRange && f != t {
		return fmt.Sprintf("%d-%d/%s", f, t, proto), nil
	}
	return fmt.Sprintf("%d/%s", f, proto), nil
}

func portOp(c *call, open bool) error {
	var eps string
	c.fs.String(&eps, "endpoints")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) != 1 {
		return cmdline.Usagef("%s requires a port or range argument", c.name)
	}
	spec, err := ParsePort(args[0])
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	var epList []string
	if eps != "" {
		for _, e := range strings.Split(eps, ",") {
			if e = strings.TrimSpace(e); e != "" {
				epList = append(epList, e)
			}
		}
	}
	c.hc.PortOps = append(c.hc.PortOps, state.PortOp{Open: open, Port: spec, Endpoints: epList})
	return nil
}

func openedPorts(c *call) error {
	var eps bool
	c.fs.Bool(&eps, "endpoints")
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	ports := append([]string{}, c.u.Ports...)
	SortPorts(ports)
	if eps {
		for i, p := range ports {
			e := c.u.PortEPs[p]
			if e == "" {
				e = "*"
			}
			ports[i] = p + " (" + e + ")"
		}
	}
	return c.write(ports)
}

// SortPorts orders port specs by protocol then number, as Juju lists them.
func SortPorts(ports []string) {
	key := func(p string) (string, int) {
		n, proto, _ := strings.Cut(p, "/")
		from, _, _ := strings.Cut(n, "-")
		v, _ := strconv.Atoi(from)
		return proto, v
	}
	sort.Slice(ports, func(i, j int) bool {
		pi, ni := key(ports[i])
		pj, nj := key(ports[j])
		if pi != pj {
			return pi < pj
		}
		return ni < nj
	})
}
