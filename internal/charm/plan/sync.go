package plan

import (
	"fmt"
	"slices"
	"strings"
)

// SyncFacts is what the primary knows when it sets its quorum commit.
type SyncFacts struct {
	Quorum  int      // the synchronous_standbys option: how many standbys must have a commit; 0 = asynchronous
	Strict  bool     // the synchronous_strict option: never relax to asynchronous
	Members []string // every other unit of the application (the standbys this primary may have)
	Healthy []string // the standbys streaming from this primary now, or reporting that they follow it
}

// SyncPlan is the primary's quorum commit: the two settings and what the status says.
type SyncPlan struct {
	Names  string // synchronous_standby_names
	Commit string // synchronous_commit
	// InForce is how many standbys must flush a commit before it is acknowledged: 0 while
	// asynchronous. The leader's failover reads it from the primary's peer data.
	InForce int
	Note    string // appended to the primary's status when the quorum is not as configured
}

// DecideSync sets the primary's quorum commit. With a quorum of N, a commit is
// acknowledged once N of the listed standbys have flushed it ('ANY N (...)'), so a primary
// cut off from its standbys acknowledges nothing. The list holds the healthy standbys only:
// a standby that fails leaves it at the next reload, and one that joins enters it once it
// streams. When fewer are healthy than N, N shrinks to what is there; when none is, the
// primary runs asynchronously and says so, unless strict, in which case it lists every
// member (or any standby at all, '*') and commits wait until enough come back, as Patroni's
// synchronous_mode_strict does.
func DecideSync(f SyncFacts) SyncPlan {
	if f.Quorum <= 0 {
		return SyncPlan{Commit: "on"}
	}
	if f.Strict {
		list := dedupSorted(append(slices.Clone(f.Members), f.Healthy...))
		p := SyncPlan{Names: anyOf(f.Quorum, list), Commit: "on", InForce: f.Quorum}
		switch healthy := len(dedupSorted(f.Healthy)); {
		case len(list) == 0:
			p.Note = "commits wait for a standby (synchronous_strict)"
		case healthy < f.Quorum:
			p.Note = fmt.Sprintf("commits wait: %d of %d synchronous standbys streaming (synchronous_strict)", healthy, f.Quorum)
		}
		return p
	}
	healthy := dedupSorted(f.Healthy)
	if len(healthy) == 0 {
		return SyncPlan{Commit: "on", Note: "asynchronous: no standby streaming"}
	}
	n := min(f.Quorum, len(healthy))
	p := SyncPlan{Names: anyOf(n, healthy), Commit: "on", InForce: n}
	if n < f.Quorum {
		p.Note = fmt.Sprintf("synchronous with %d of %d standbys", n, f.Quorum)
	}
	return p
}

// anyOf renders 'ANY n ("a", "b")'; with no names, any standby counts ('*').
func anyOf(n int, names []string) string {
	if len(names) == 0 {
		return fmt.Sprintf("ANY %d (*)", n)
	}
	quoted := make([]string, len(names))
	for i, s := range names {
		// Standby names are identifiers: unit names hold '/', so every one is quoted.
		quoted[i] = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return fmt.Sprintf("ANY %d (%s)", n, strings.Join(quoted, ", "))
}

func dedupSorted(names []string) []string {
	out := slices.Clone(names)
	slices.SortFunc(out, func(a, b string) int {
		if d := UnitNumber(a) - UnitNumber(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}
