package hba

import (
	"net/netip"
	"strings"
)

// NonTLSLines are the lines of user-written pg_hba.conf text (extra_pg_auth) that admit
// TCP connections without TLS: host, hostnossl, hostgssenc and hostnogssenc lines whose
// method is anything but reject. hostssl, local and reject lines, which cannot admit a
// connection in the clear over the network, are not among them. Lines are numbered
// from 1, as CheckRaw names them.
func NonTLSLines(text string) (lines []int) {
	for i, line := range strings.Split(text, "\n") {
		f, err := splitFields(line)
		if err != nil || len(f) == 0 {
			continue
		}
		switch f[0] {
		case "host", "hostnossl", "hostgssenc", "hostnogssenc":
		default:
			continue
		}
		method := 4 // type, database, user, address, method
		if len(f) > 5 && !strings.Contains(f[3], "/") {
			if _, err := netip.ParseAddr(f[3]); err == nil {
				if _, err := netip.ParseAddr(f[4]); err == nil {
					method = 5 // an address and a netmask
				}
			}
		}
		if len(f) <= method || f[method] != "reject" {
			lines = append(lines, i+1)
		}
	}
	return lines
}
