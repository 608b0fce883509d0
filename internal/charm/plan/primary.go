// Package plan holds the charm's decisions as pure functions: plain facts in, desired
// state out. Nothing here runs a command or reads a file, so every case is a table test.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Unit is what one unit of the application reports about itself in the peer relation,
// or what the leader measured directly on it.
type Unit struct {
	Name     string // postgresql/1
	Reported bool   // has published its facts at least once
	HasData  bool   // its data directory holds a database
	SystemID string // the database's system identifier, when HasData
	Timeline uint32
	LSN      uint64 // how far its WAL goes: current position on a primary, received/replayed on a standby
	Role     Role   // what it runs as now
	Measured bool   // Timeline and LSN were read from the server just now, not from relation data
}

// Role is what a unit's PostgreSQL currently is.
type Role string

// Roles a unit reports.
const (
	RoleNone    Role = ""        // not running, or no database yet
	RolePrimary Role = "primary" // accepting writes
	RoleStandby Role = "standby" // in recovery, following a primary
)

// Group is the leader's view of the application for choosing the primary.
type Group struct {
	Leader     string          // the unit deciding (it is the Juju leader)
	Units      map[string]Unit // every unit present in the peer relation, the leader included
	Expected   []string        // every unit Juju means the application to have (goal-state)
	Primary    string          // the primary recorded in the peer application data, if any
	Switchover string          // a unit asked to become primary by the switchover action
}

// PrimaryChoice is the leader's decision.
type PrimaryChoice struct {
	Primary  string // the unit that should be primary; empty while undecided
	Waiting  string // why it is undecided
	Failover bool   // the recorded primary is gone and Primary replaces it
}

// ChoosePrimary decides which unit is primary. It never moves the primary away from a
// unit that is present unless a switchover asks for it, never picks a unit that holds no
// database over one that does, and on failover picks the most advanced unit (highest
// timeline, then LSN) among those that hold the primary's database.
func ChoosePrimary(g Group) PrimaryChoice {
	if g.Primary != "" {
		if _, ok := g.Units[g.Primary]; ok {
			if t, ok := g.Units[g.Switchover]; ok && g.Switchover != g.Primary && t.HasData {
				return PrimaryChoice{Primary: g.Switchover}
			}
			return PrimaryChoice{Primary: g.Primary}
		}
		return failover(g)
	}
	for _, name := range g.Expected {
		if u, ok := g.Units[name]; !ok || !u.Reported {
			return PrimaryChoice{Waiting: "Waiting for " + name + " to report its storage"}
		}
	}
	var withData []Unit
	for _, u := range g.Units {
		if u.HasData {
			withData = append(withData, u)
		}
	}
	if len(withData) == 0 {
		return PrimaryChoice{Primary: g.Leader}
	}
	if l, ok := g.Units[g.Leader]; ok && l.HasData {
		// The leader's database is the reference; a more advanced unit of the same
		// database still wins, since it has everything the leader has and more.
		best := mostAdvanced(sameSystem(withData, l.SystemID), g.Leader)
		return PrimaryChoice{Primary: best.Name}
	}
	return PrimaryChoice{Primary: mostAdvanced(withData, g.Leader).Name}
}

func failover(g Group) PrimaryChoice {
	old := g.Primary
	// Units that followed the old primary hold its database: their system identifier
	// is the application's, and units holding another database are never candidates.
	systemID := ""
	for _, u := range sortedUnits(g.Units) {
		if u.HasData && u.Role == RoleStandby {
			systemID = u.SystemID
			break
		}
	}
	var candidates []Unit
	for _, u := range sortedUnits(g.Units) {
		if !u.HasData || (systemID != "" && u.SystemID != systemID) {
			continue
		}
		if !u.Measured {
			return PrimaryChoice{Waiting: fmt.Sprintf("Failover from %s: waiting to measure %s", old, u.Name)}
		}
		candidates = append(candidates, u)
	}
	if len(candidates) == 0 {
		if len(g.Units) == 0 {
			return PrimaryChoice{Waiting: "Failover from " + old + ": no unit left"}
		}
		return PrimaryChoice{Waiting: "Failover from " + old + ": no unit holds its database"}
	}
	return PrimaryChoice{Primary: mostAdvanced(candidates, g.Leader).Name, Failover: true}
}

func sameSystem(units []Unit, id string) []Unit {
	var out []Unit
	for _, u := range units {
		if u.SystemID == id {
			out = append(out, u)
		}
	}
	return out
}

// mostAdvanced orders by timeline, then LSN; ties go to prefer (the leader, which can
// act at once), then to the lowest unit number, so the choice is deterministic.
func mostAdvanced(units []Unit, prefer string) Unit {
	sort.Slice(units, func(i, j int) bool {
		a, b := units[i], units[j]
		if a.Timeline != b.Timeline {
			return a.Timeline > b.Timeline
		}
		if a.LSN != b.LSN {
			return a.LSN > b.LSN
		}
		if (a.Name == prefer) != (b.Name == prefer) {
			return a.Name == prefer
		}
		return UnitNumber(a.Name) < UnitNumber(b.Name)
	})
	return units[0]
}

// UnitNumber is the N of app/N, or -1.
func UnitNumber(unit string) int {
	i := strings.LastIndexByte(unit, '/')
	n, err := strconv.Atoi(unit[i+1:])
	if i < 0 || err != nil {
		return -1
	}
	return n
}

func sortedUnits(m map[string]Unit) []Unit {
	out := make([]Unit, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return UnitNumber(out[i].Name) < UnitNumber(out[j].Name) })
	return out
}
