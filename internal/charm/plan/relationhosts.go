package plan

import "strings"

// A client relation's units reach the servers at their ingress addresses on that relation,
// which differ from their peer addresses across models: Juju gives a cross-model relation
// the machines' public addresses, the peer relation their private ones
// (apiserver/facades/agent/uniter/networkinfo.go). Each server therefore reports, for every
// client relation, where that relation reaches it (HostToken), and the units publish the
// others at those addresses (Server.Across), never at their peer addresses.

// HostToken is what every server unit reports for a client relation: its ingress address
// on it.
func (c Client) HostToken(host string) string { return c.ID + "=host@" + host }

// ReportedHost is a unit's ingress address on relation id, from its report ("" if it
// has not reported one).
func ReportedHost(report, id string) string {
	prefix := id + "=host@"
	for _, t := range strings.Fields(report) {
		if h, ok := strings.CutPrefix(t, prefix); ok {
			return h
		}
	}
	return ""
}

// Across is For's view with the other units at their addresses on the relation too: hosts
// maps a peer address to that unit's reported address on the relation. On a relation whose
// addresses differ from the peer ones (cross: this unit's do), a standby that has not
// reported one yet is left out, since its peer address would not reach it; the master
// stays as it is (a standby publishes the primary's provisioned address).
func (s Server) Across(cross bool, hosts map[string]string) Server {
	out := s
	if h := hosts[s.Master]; h != "" {
		out.Master = h
	}
	out.Standbys = nil
	for _, a := range s.Standbys {
		switch h := hosts[a]; {
		case a == s.Host:
			out.Standbys = append(out.Standbys, a)
		case h != "":
			out.Standbys = append(out.Standbys, h)
		case !cross:
			out.Standbys = append(out.Standbys, a)
		}
	}
	return out
}
