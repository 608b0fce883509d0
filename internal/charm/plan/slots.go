package plan

import "strings"

// SlotName turns a unit name ("postgresql/1") into its replication slot's name
// ("postgresql_1") on the primary.
func SlotName(unit string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(unit) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// SlotPlan is the primary's replication slots: one for every peer, so that a standby
// that falls behind or restarts finds the WAL it needs, and none for units that left
// (a forgotten slot keeps WAL on the primary's disk for ever).
type SlotPlan struct {
	Keep []string
	Drop []string
}

// decideSlots keeps a slot per peer on the primary and drops this application's other
// slots (others' are not the charm's to touch). Only the primary decides: on any other
// unit the slots are whatever replication brought.
func decideSlots(o Observed, isPrimary bool) SlotPlan {
	var p SlotPlan
	if !isPrimary {
		return p
	}
	keep := map[string]bool{}
	for _, name := range sortedKeys(o.Peers) {
		p.Keep = append(p.Keep, SlotName(name))
		keep[SlotName(name)] = true
	}
	prefix := SlotName(o.App + "/")
	for _, s := range o.Slots {
		if strings.HasPrefix(s, prefix) && !keep[s] {
			p.Drop = append(p.Drop, s)
		}
	}
	return p
}
