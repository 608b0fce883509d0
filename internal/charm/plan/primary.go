// Package plan holds the charm's decisions as pure functions: plain facts in, desired
// state out. Nothing here runs a command or reads a file, so every case is a table test.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Unit is what one unit of the application reports about itself in the peer relation,
// or what the leader measured directly on it.
type Unit struct {
	Name     string // postgresql/1
	Reported bool   // has published its facts at least once
	HasData  bool   // its data directory holds a database
	SystemID string // the database's system identifier, when HasData
	Timeline uint32
	LSN      wal.LSN // how far its WAL goes: current position on a primary, received/replayed on a standby
	Role     Role    // what it runs as now
	Measured bool    // Timeline and LSN were read from the server just now, not from relation data
	Dying    bool    // goal-state says it is being removed
	Detached bool    // it reported that its pgdata storage went away (teardown)
}

// Eligible says whether a unit may be chosen primary: a dying unit or one whose storage
// went away stops its server in its teardown, so choosing it would leave the application
// without a primary, or make it create a database where its data is not.
func (u Unit) Eligible() bool { return !u.Dying && !u.Detached }

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
	SystemID   string          // the application's database (system identifier) as the leader recorded it
}

// RecordSystemID is the application's database as the leader records it: the system
// identifier of the chosen primary once it serves (a restore that replaced the database
// moves it along), else what was recorded.
func RecordSystemID(recorded string, primary Unit, chosen string) string {
	if primary.Name == chosen && chosen != "" && primary.Role == RolePrimary && primary.HasData && primary.SystemID != "" {
		return primary.SystemID
	}
	return recorded
}

// PrimaryChoice is the leader's decision.
type PrimaryChoice struct {
	Primary  string // the unit that should be primary; empty while undecided
	Waiting  string // why it is undecided
	Failover bool   // the recorded primary is gone and Primary replaces it
}

// PrimaryLost says whether the recorded primary can no longer serve, so that the leader
// must choose another among measured units: it left the peer relation, is dying, lost its
// storage, or reports no database although the application has one (its data vanished).
func PrimaryLost(g Group) bool {
	if g.Primary == "" {
		return false
	}
	p, ok := g.Units[g.Primary]
	return !ok || !p.Eligible() || (g.SystemID != "" && p.Reported && !p.HasData)
}

// ChoosePrimary decides which unit is primary. It never moves the primary away from a
// unit that can serve unless a switchover asks for it, never picks a unit that holds no
// database over one that does, never picks a dying unit or one whose storage went away,
// and on failover picks the most advanced unit (highest timeline, then LSN) among those
// that hold the application's database. When a lost primary has no successor it stays
// recorded: nothing better can be chosen, and its own hooks say why it does not serve.
func ChoosePrimary(g Group) PrimaryChoice {
	if g.Primary != "" {
		if !PrimaryLost(g) {
			if t, ok := g.Units[g.Switchover]; ok && g.Switchover != g.Primary && t.HasData && t.Eligible() {
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
	var withData, eligible []Unit
	for _, u := range sortedUnits(g.Units) {
		if !u.Eligible() {
			continue
		}
		eligible = append(eligible, u)
		if u.HasData {
			withData = append(withData, u)
		}
	}
	if len(eligible) == 0 {
		return PrimaryChoice{Waiting: "No unit can be primary: every unit is leaving or lost its storage"}
	}
	if len(withData) == 0 {
		if l, ok := g.Units[g.Leader]; ok && l.Eligible() {
			return PrimaryChoice{Primary: g.Leader}
		}
		return PrimaryChoice{Primary: eligible[0].Name}
	}
	if l, ok := g.Units[g.Leader]; ok && l.HasData && l.Eligible() {
		// The leader's database is the reference; a more advanced unit of the same
		// database still wins, since it has everything the leader has and more.
		best := mostAdvanced(sameSystem(withData, l.SystemID), g.Leader)
		return PrimaryChoice{Primary: best.Name}
	}
	return PrimaryChoice{Primary: mostAdvanced(withData, g.Leader).Name}
}

func failover(g Group) PrimaryChoice {
	old := g.Primary
	// The application's database is the one the leader recorded; before it recorded one,
	// units that followed the old primary hold it. Units holding another database are never
	// candidates.
	systemID := g.SystemID
	for _, u := range sortedUnits(g.Units) {
		if systemID == "" && u.HasData && u.Role == RoleStandby && u.Name != old {
			systemID = u.SystemID
			break
		}
	}
	var candidates []Unit
	for _, u := range sortedUnits(g.Units) {
		if u.Name == old || !u.Eligible() || !u.HasData || (systemID != "" && u.SystemID != systemID) {
			continue
		}
		if !u.Measured {
			return PrimaryChoice{Waiting: fmt.Sprintf("Failover from %s: waiting to measure %s", old, u.Name)}
		}
		candidates = append(candidates, u)
	}
	if len(candidates) == 0 {
		others := 0
		for name := range g.Units {
			if name != old {
				others++
			}
		}
		if others == 0 {
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
