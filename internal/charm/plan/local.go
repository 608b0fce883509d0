package plan

import (
	"fmt"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Local is what a unit observed about its own PostgreSQL.
type Local struct {
	Self        string
	Version     string // major version the charm runs, e.g. "15"
	FullVersion string // e.g. "15.18", for status messages
	DataVersion string // major version of the database in the data directory, "" if none
	HasData     bool
	SystemID    string
	Running     bool
	Standby     bool // configured as a standby (standby.signal), or running in recovery
	Timeline    uint32
	LSN         wal.LSN
	Following   string // the primary this unit's standby settings point at
	Restore     string // which point-in-time restore its database descends from ("" = none)
	// AppSystemID is the application's database as the leader recorded it ("" until a
	// primary first served): a chosen primary without it never makes an empty one.
	AppSystemID string
	// Interrupted is what an interrupted wal-e-restore left (InterruptedRestore), "" if nothing.
	Interrupted string
	// Partial says the data directory holds an incomplete copy (a clone killed half-way):
	// HasData is false, and the copy is moved aside before the next clone.
	Partial bool
}

// Target is the primary as this unit sees it.
type Target struct {
	Name     string
	Address  string
	Ready    bool // it runs as primary and has published its address
	SystemID string
	Timeline uint32
	History  []wal.HistoryEntry // the primary's timeline history
	Restore  string             // which point-in-time restore the primary's database descends from
}

// Step is the one thing a unit does to its server in this hook; hooks repeat until the
// unit reaches StepNone, so each step only has to be correct from the state it starts in.
type Step string

// Steps, in the order a unit usually meets them.
const (
	StepNone    Step = ""        // as it should be
	StepWait    Step = "wait"    // nothing to do until another unit or the leader acts
	StepBlock   Step = "block"   // needs the operator
	StepCreate  Step = "create"  // make a new database (no data here, this unit is primary)
	StepStart   Step = "start"   // start the existing database as it is configured
	StepPromote Step = "promote" // leave recovery: this standby becomes primary
	StepClone   Step = "clone"   // copy the primary into an empty data directory
	StepFollow  Step = "follow"  // point standby settings at the primary and (re)start
	StepStop    Step = "stop"    // stop serving writes: another unit is to be primary
	StepRewind  Step = "rewind"  // stop, pg_rewind from the primary, then follow
)

// Decision is what a unit does now and what it says.
type Decision struct {
	Step   Step
	Status Status
}

// DecideLocal decides what this unit does given who the primary is and whether another
// unit still reports itself primary (rival). It never creates or clones over a data
// directory that holds a database, never promotes while another primary may still take
// writes, and never lets a unit that is not the chosen primary keep serving writes.
func DecideLocal(l Local, primary string, t Target, rival string) Decision {
	if l.Interrupted != "" {
		return block(l.Interrupted)
	}
	if l.HasData && l.DataVersion != "" && l.DataVersion != l.Version {
		return block(fmt.Sprintf("pgdata holds a PostgreSQL %s database; this unit runs %s. Attach it to a unit with version=%s",
			l.DataVersion, l.Version, l.DataVersion))
	}
	switch primary {
	case "":
		return wait("Waiting for the leader to choose a primary")
	case l.Self:
		return decidePrimary(l, rival)
	default:
		return decideStandby(l, primary, t)
	}
}

func decidePrimary(l Local, rival string) Decision {
	switch {
	case l.Partial:
		// Never a database to serve, nor a place to make one.
		return block("Chosen primary, but pgdata holds an incomplete copy of a database (a clone was interrupted): " +
			"the leader moves the primary to a unit that has the database; or move the copy away and restore with wal-e-restore")
	case !l.HasData && l.AppSystemID != "":
		// The application has a database and this unit held it (or was to hold it): its
		// volume went away or came back empty. An empty database here would fork the
		// application under its clients; the leader moves the primary to a unit that has
		// the database, when there is one.
		return block(fmt.Sprintf("Chosen primary, but pgdata holds no database: the application's database (system id %s) is not here; "+
			"attach the volume that holds it (juju attach-storage) or restore it with wal-e-restore", l.AppSystemID))
	case !l.HasData:
		return Decision{Step: StepCreate, Status: Status{"maintenance", "Creating the database"}}
	case !l.Running:
		return Decision{Step: StepStart, Status: Status{"maintenance", "Starting PostgreSQL"}}
	case l.Standby && rival != "":
		return wait("Waiting for " + rival + " to step down before promotion")
	case l.Standby:
		return Decision{Step: StepPromote, Status: Status{"maintenance", "Promoting to primary"}}
	}
	return Decision{Status: Status{"active", fmt.Sprintf("Live master (%s)", l.FullVersion)}}
}

func decideStandby(l Local, primary string, t Target) Decision {
	switch {
	case l.Running && !l.Standby:
		return Decision{Step: StepStop, Status: Status{"maintenance", "Stepping down: " + primary + " is to be primary"}}
	case !t.Ready:
		return wait("Waiting for primary " + primary)
	case !l.HasData:
		return Decision{Step: StepClone, Status: Status{"maintenance", "Cloning from " + primary}}
	case l.Restore != t.Restore:
		// The primary was restored to a point in time: this standby keeps serving the
		// old timeline, read-only, until the operator restores it too (as the seed does).
		msg := fmt.Sprintf("Live secondary (%s) on the timeline before %s was restored; run wal-e-restore here to follow it",
			l.FullVersion, primary)
		if !l.Running {
			return wait(msg)
		}
		return Decision{Status: Status{"active", msg}}
	case l.SystemID != "" && t.SystemID != "" && l.SystemID != t.SystemID:
		return block(fmt.Sprintf("pgdata holds another database (system id %s; primary %s has %s): detach it or remove this unit",
			l.SystemID, primary, t.SystemID))
	case !l.Standby, needsRewind(l, t):
		// A former primary, or a standby whose WAL went past the fork of the
		// primary's timeline: pg_rewind makes it a valid standby without a re-clone.
		return Decision{Step: StepRewind, Status: Status{"maintenance", "Rewinding to follow " + primary}}
	case l.Following != primary || !l.Running:
		return Decision{Step: StepFollow, Status: Status{"maintenance", "Following " + primary}}
	}
	return Decision{Status: Status{"active", fmt.Sprintf("Live secondary (%s)", l.FullVersion)}}
}

// needsRewind says whether a standby must be rewound before it follows the primary t.
// On the primary's timeline it follows as it is. On an older one it follows as it is
// when its WAL ends at or before the point where the primary's line of timelines left
// its own (after a failover, a standby that had no more than the new primary): no stop,
// so the quorum commit keeps its standby. That end is only known while it runs (WAL
// received counts as much as WAL replayed, and a stopped standby's pg_control says
// neither): a stopped one on another timeline is rewound, as is one past the fork.
func needsRewind(l Local, t Target) bool {
	if l.Timeline == t.Timeline {
		return false
	}
	if !l.Running {
		return true
	}
	return wal.Timeline{TLI: t.Timeline, History: t.History}.NeedsRewind(l.Timeline, l.LSN)
}

func wait(msg string) Decision  { return Decision{Step: StepWait, Status: Status{"waiting", msg}} }
func block(msg string) Decision { return Decision{Step: StepBlock, Status: Status{"blocked", msg}} }

// IsPrimary is the one answer to "am I primary": this unit is the chosen primary and its
// server runs out of recovery on its own database. Every stage that acts only on the
// primary (slots, clients, the backup schedule, archiving health) asks this.
func IsPrimary(l Local, chosen string) bool {
	return chosen != "" && chosen == l.Self && l.HasData && l.Running && !l.Standby
}
