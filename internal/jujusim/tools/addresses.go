package tools

import (
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// RelationAddresses is what a unit of side in relation r (nil: no relation) is known by: its
// ingress address and its egress subnets. A cross-model relation gets the machine's public
// address (apiserver/facades/agent/uniter/networkinfo.go maybeGetUnitAddress; the private
// one when the machine has none), a local one the private address. Egress subnets come from
// the relation's networks (integrate --via), then model config egress-subnets, then the
// ingress address as a /32.
func RelationAddresses(m *state.Model, mc *state.Machine, r *state.Relation, side int) (string, []string) {
	if mc == nil || mc.Addr == "" {
		return "", nil
	}
	ingress := mc.Addr
	if r != nil && r.CMR && mc.PublicAddr != "" {
		ingress = mc.PublicAddr
	}
	if r != nil && side >= 0 && len(r.Sides[side].Via) > 0 {
		return ingress, append([]string(nil), r.Sides[side].Via...)
	}
	if v := strings.TrimSpace(m.Config["egress-subnets"]); v != "" {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return ingress, out
	}
	return ingress, []string{ingress + "/32"}
}
