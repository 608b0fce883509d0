package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Probe is what the leader's agent (internal/agent) last saw of one unit's server over
// SQL. A unit the agent never reached has a zero Probe with Down counting from the
// agent's start.
type Probe struct {
	Reachable  bool          // answered at the last probe
	Down       time.Duration // how long it has not answered (0 while reachable)
	InRecovery bool          // a standby
	Timeline   uint32
	// Flushed is the WAL it holds on disk: the flush position on a primary, the highest
	// received-and-flushed position the agent saw on a standby (a WAL receiver that
	// restarts reports its segment's start, so the agent keeps the maximum per timeline).
	Flushed  wal.LSN
	Replayed wal.LSN
	// Streaming: a standby whose WAL receiver heard from its primary within the
	// failover timeout, so it still reaches the primary.
	Streaming bool
	// SyncNames is the synchronous_standby_names a primary last ran with (kept by the
	// agent after the primary stops answering); "" for none or unknown.
	SyncNames string
	// SeenPrimary: the agent saw this unit run as primary since it started, so
	// SyncNames is what it last ran with.
	SeenPrimary bool
}

// FailoverFacts is the leader's view when it judges the recorded primary.
type FailoverFacts struct {
	Leader     string
	Units      map[string]Unit  // every unit in the peer relation, the leader included (Eligible, HasData, SystemID)
	Primary    string           // the recorded primary
	Failed     string           // a primary the leader marked failed (peer app bag)
	InProgress string           // the standby chosen by a failover that has not promoted yet (peer app bag)
	Probes     map[string]Probe // the leader's agent's observations; nil when the agent has reported nothing
	Timeout    time.Duration    // the failover_timeout option
}

// FailoverAction is what the leader does about the primary.
type FailoverAction string

// Failover actions.
const (
	FailoverNone  FailoverAction = ""      // the primary serves, or is not gone long enough: nothing
	FailoverStart FailoverAction = "start" // mark Failed, record Chosen as primary and as in progress
	FailoverWait  FailoverAction = "wait"  // the primary is gone but no standby may safely take over yet
	FailoverDone  FailoverAction = "done"  // the chosen standby serves: the failover is no longer in progress
)

// FailoverDecision is the leader's decision, with what to log and show.
type FailoverDecision struct {
	Action  FailoverAction
	Failed  string // FailoverStart: the primary to mark failed
	Chosen  string // FailoverStart: the standby to promote
	Why     string
	MayLose bool // the old primary ran asynchronously: its last commits may be missing
}

// DecideFailover judges whether the recorded primary failed and who replaces it. It acts
// only when the leader's agent has not reached the primary for the whole timeout and no
// standby's WAL receiver still hears from it (a primary that is merely slow, paused for
// less than the timeout, or cut off from the leader alone keeps its place), never while
// another failover is under way, and only promotes a standby sure to hold every commit
// the old primary acknowledged: with 'ANY N (M listed)', an acknowledged commit is on N
// of the M, so M-N+1 of them must answer and the most advanced answering standby is
// chosen. A dying or storageless unit, or one holding another database, is never chosen.
// A chosen standby that goes away before it promotes (unreachable for the timeout, never
// seen serving) is replaced by the same rule, counted as a standby that does not answer;
// when none qualifies the leader waits and says why, and the standbys stay as they are.
func DecideFailover(f FailoverFacts) FailoverDecision {
	if f.InProgress != "" {
		if p, ok := f.Probes[f.InProgress]; ok && p.Reachable && !p.InRecovery {
			return FailoverDecision{Action: FailoverDone, Why: fmt.Sprintf("Failover: %s serves as primary", f.InProgress)}
		}
		if u, ok := f.Units[f.InProgress]; ok && u.Role == RolePrimary {
			return FailoverDecision{Action: FailoverDone, Why: fmt.Sprintf("Failover: %s serves as primary", f.InProgress)}
		}
		if c, ok := f.Probes[f.InProgress]; ok && !c.Reachable && !c.SeenPrimary && c.Down >= f.Timeout && f.Failed != "" {
			// The chosen standby went away before it promoted: choose again from the
			// failed primary, by the same rule (it counts as a standby that does not
			// answer), or wait saying so; the standbys are left as they are.
			again := f
			again.Primary, again.Failed, again.InProgress = f.Failed, "", ""
			d := DecideFailover(again)
			if d.Action == FailoverStart {
				d.Why = fmt.Sprintf("Failover: %s, chosen to replace %s, is unreachable before it promoted; %s", f.InProgress, f.Failed, d.Why)
				return d
			}
			why := d.Why
			if why == "" {
				why = f.Failed + " answers again"
			}
			return FailoverDecision{Action: FailoverWait, Why: fmt.Sprintf("Failover from %s: %s, chosen to replace it, is unreachable before it promoted (%s)",
				f.Failed, f.InProgress, why)}
		}
		return FailoverDecision{Action: FailoverWait, Why: fmt.Sprintf("Failover from %s: waiting for %s to promote", orUnknown(f.Failed), f.InProgress)}
	}
	if f.Primary == "" || f.Primary == f.Failed || f.Timeout <= 0 {
		return FailoverDecision{}
	}
	if _, ok := f.Units[f.Primary]; !ok {
		return FailoverDecision{} // it left the relation: ChoosePrimary replaces it
	}
	p, ok := f.Probes[f.Primary]
	switch {
	case !ok:
		return FailoverDecision{Why: "no observation of the primary yet"}
	case p.Reachable:
		return FailoverDecision{}
	case p.Down < f.Timeout:
		return FailoverDecision{Why: fmt.Sprintf("primary %s unreachable for %s, less than failover_timeout %s", f.Primary, p.Down.Round(time.Second), f.Timeout)}
	}
	for _, name := range sortedNames(f.Probes) {
		if q := f.Probes[name]; name != f.Primary && q.Reachable && q.InRecovery && q.Streaming {
			return FailoverDecision{Why: fmt.Sprintf("primary %s unreachable from the leader, but %s still streams from it", f.Primary, name)}
		}
	}
	old := f.Units[f.Primary]
	systemID := old.SystemID
	// answering: standbys of the database whose WAL the agent measured (an ineligible one
	// still tells how far acknowledged commits may go); candidates: those that may serve.
	var answering, candidates, lacking []string
	for _, u := range sortedUnits(f.Units) {
		if u.Name == f.Primary || !u.HasData || (systemID != "" && u.SystemID != "" && u.SystemID != systemID) {
			continue
		}
		q, ok := f.Probes[u.Name]
		switch {
		case ok && q.Reachable && q.InRecovery:
			answering = append(answering, u.Name)
			if u.Eligible() {
				candidates = append(candidates, u.Name)
			}
		case u.Eligible():
			lacking = append(lacking, u.Name)
		}
	}
	n, listed := ParseSyncNames(p.SyncNames)
	if n > 0 && len(listed) == 1 && listed[0] == "*" {
		listed = nil
		for name := range f.Units {
			if name != f.Primary {
				listed = append(listed, name)
			}
		}
	}
	d := FailoverDecision{Action: FailoverWait}
	switch {
	case n > 0:
		answered := 0
		for _, name := range listed {
			if slices.Contains(answering, name) {
				answered++
			}
		}
		if need := len(listed) - n + 1; answered < need {
			d.Why = fmt.Sprintf("Failover from %s: %d of its %d synchronous standbys answer, %d needed to hold every acknowledged commit",
				f.Primary, answered, len(listed), need)
			return d
		}
	case !p.SeenPrimary && len(lacking) > 0:
		// Nothing says how the old primary committed: only the whole set of standbys
		// is sure to hold its last acknowledged commit.
		d.Why = fmt.Sprintf("Failover from %s: its commit mode is unknown and %s does not answer", f.Primary, strings.Join(lacking, ", "))
		return d
	default:
		d.MayLose = p.SeenPrimary
	}
	if len(candidates) == 0 {
		d.Why = fmt.Sprintf("Failover from %s: no standby that holds its database answers", f.Primary)
		d.MayLose = false
		return d
	}
	best := slices.MaxFunc(candidates, func(a, b string) int { return compareCandidates(f, listed, a, b) })
	ahead := slices.MaxFunc(answering, func(a, b string) int { return compareCandidates(f, listed, a, b) })
	if b, a := f.Probes[best], f.Probes[ahead]; a.Timeline > b.Timeline || (a.Timeline == b.Timeline && a.Flushed > b.Flushed) {
		// Promoting best would drop what only ahead holds.
		d.Why = fmt.Sprintf("Failover from %s: %s (flushed %s) is ahead of every standby that may serve (%s, flushed %s) but cannot be promoted",
			f.Primary, ahead, a.Flushed, best, b.Flushed)
		d.MayLose = false
		return d
	}
	why := fmt.Sprintf("Failover: %s unreachable for %s; promoting %s (flushed %s)", f.Primary, p.Down.Round(time.Second), best, f.Probes[best].Flushed)
	if d.MayLose {
		why += "; the old primary committed asynchronously, its last commits may be lost"
	}
	return FailoverDecision{Action: FailoverStart, Failed: f.Primary, Chosen: best, Why: why, MayLose: d.MayLose}
}

// compareCandidates orders standbys by timeline, then flushed WAL, then a listed
// (synchronous) one, then the leader (it acts at once), then the lowest unit number.
func compareCandidates(f FailoverFacts, listed []string, a, b string) int {
	pa, pb := f.Probes[a], f.Probes[b]
	if pa.Timeline != pb.Timeline {
		return cmpInt(int64(pa.Timeline), int64(pb.Timeline))
	}
	if pa.Flushed != pb.Flushed {
		if pa.Flushed > pb.Flushed {
			return 1
		}
		return -1
	}
	if la, lb := slices.Contains(listed, a), slices.Contains(listed, b); la != lb {
		if la {
			return 1
		}
		return -1
	}
	if (a == f.Leader) != (b == f.Leader) {
		if a == f.Leader {
			return 1
		}
		return -1
	}
	return cmpInt(int64(UnitNumber(b)), int64(UnitNumber(a)))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseSyncNames reads synchronous_standby_names as PostgreSQL does for the forms the
// charm writes and the common others: 'ANY N (a, "b")', 'FIRST N (...)', 'N (...)' and a
// bare list (FIRST 1). It returns how many listed standbys must flush a commit and the
// names ("*" for any standby); 0 means asynchronous.
func ParseSyncNames(s string) (int, []string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n := 1
	if open := strings.IndexByte(s, '('); open >= 0 && strings.HasSuffix(s, ")") {
		head := strings.Fields(s[:open])
		if len(head) > 0 && (strings.EqualFold(head[0], "ANY") || strings.EqualFold(head[0], "FIRST")) {
			head = head[1:]
		}
		if len(head) == 1 {
			v, err := strconv.Atoi(head[0])
			if err != nil {
				return 0, nil
			}
			n = v
		}
		s = s[open+1 : len(s)-1]
	}
	var names []string
	for _, part := range splitNames(s) {
		if part = strings.TrimSpace(part); strings.HasPrefix(part, `"`) && strings.HasSuffix(part, `"`) && len(part) >= 2 {
			part = strings.ReplaceAll(part[1:len(part)-1], `""`, `"`)
		}
		if part != "" {
			names = append(names, part)
		}
	}
	if slices.Contains(names, "*") {
		names = []string{"*"}
	}
	if n <= 0 || len(names) == 0 {
		return 0, nil
	}
	return n, names
}

// splitNames splits a standby list at commas outside double quotes.
func splitNames(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		if d := UnitNumber(a) - UnitNumber(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "the old primary"
	}
	return s
}

// FailedPrimaryCleared says when the leader forgets a failed primary's mark: once it left
// the relation, or rejoined as a standby of the current primary. Until then the mark keeps
// any unit from treating its stale "primary" report as a rival.
func FailedPrimaryCleared(failed, primary string, units map[string]Unit, following map[string]string) bool {
	u, ok := units[failed]
	if failed == "" || !ok {
		return true
	}
	return u.Role == RoleStandby && following[failed] == primary && failed != primary
}

// failoverChoices applies the leader's failover decision to the application bag before
// the primary is chosen: a failover marks the old primary failed and records the chosen
// standby as primary and as in progress; it is no longer in progress once that one
// serves; the mark goes once the old primary follows the new one, or left. g follows app,
// so that ChoosePrimary keeps the choice. Deciding again on its own writes changes
// nothing. It returns why the leader waits, if it does.
func failoverChoices(o Observed, app AppState, g *Group) (AppState, string) {
	d := DecideFailover(FailoverFacts{Leader: o.Unit, Units: g.Units, Primary: app.Primary, Failed: app.Failed,
		InProgress: app.Failover, Probes: o.Probes, Timeout: o.FailoverTimeout})
	waiting := ""
	switch d.Action {
	case FailoverStart:
		app.Failed, app.Failover, app.Primary = d.Failed, d.Chosen, d.Chosen
		g.Primary = d.Chosen
	case FailoverDone:
		app.Failover = ""
	case FailoverWait:
		waiting = d.Why
	}
	following := map[string]string{}
	for name, data := range o.Peers {
		following[name] = data[KeyFollowing]
	}
	if app.Failed != "" && app.Failover == "" && FailedPrimaryCleared(app.Failed, app.Primary, g.Units, following) {
		app.Failed = ""
	}
	return app, waiting
}

// fenced keeps the recorded primary from starting its server while its agent reaches no
// majority of the units (Observed.Isolated): its agent stopped it (self-fencing), or it
// comes back cut off, and the leader may be failing it over. It starts once a majority
// answers again, or steps down if the leader chose another primary meanwhile.
func fenced(o Observed, primary string, step Step, s Status) (Step, Status) {
	if !o.Isolated || primary != o.Unit || step != StepStart {
		return step, s
	}
	return StepWait, Status{Name: StatusWaiting, Message: "Fenced: this unit reaches no majority of the units; it serves again once it does"}
}
