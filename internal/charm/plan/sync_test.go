package plan

import "testing"

func TestDecideSync(t *testing.T) {
	two := []string{"pg/2", "pg/1"}
	for _, tc := range []struct {
		name string
		f    SyncFacts
		want SyncPlan
	}{
		{"asynchronous by option", SyncFacts{Quorum: 0, Members: two, Healthy: two}, SyncPlan{Commit: "on"}},
		{"asynchronous by option, strict ignored", SyncFacts{Quorum: 0, Strict: true, Members: two}, SyncPlan{Commit: "on"}},
		{"one of two", SyncFacts{Quorum: 1, Members: two, Healthy: two},
			SyncPlan{Names: `ANY 1 ("pg/1", "pg/2")`, Commit: "on", InForce: 1}},
		{"a failed standby leaves the list", SyncFacts{Quorum: 1, Members: two, Healthy: []string{"pg/2"}},
			SyncPlan{Names: `ANY 1 ("pg/2")`, Commit: "on", InForce: 1}},
		{"a joining standby enters once healthy, sorted by number", SyncFacts{Quorum: 1, Members: []string{"pg/10", "pg/9"}, Healthy: []string{"pg/10", "pg/9", "pg/9"}},
			SyncPlan{Names: `ANY 1 ("pg/9", "pg/10")`, Commit: "on", InForce: 1}},
		{"none healthy: relaxed, said", SyncFacts{Quorum: 1, Members: two},
			SyncPlan{Commit: "on", Note: "asynchronous: no standby streaming"}},
		{"single unit: relaxed", SyncFacts{Quorum: 1},
			SyncPlan{Commit: "on", Note: "asynchronous: no standby streaming"}},
		{"fewer healthy than the quorum: shrinks, said", SyncFacts{Quorum: 2, Members: two, Healthy: []string{"pg/1"}},
			SyncPlan{Names: `ANY 1 ("pg/1")`, Commit: "on", InForce: 1, Note: "synchronous with 1 of 2 standbys"}},
		{"quorum of two", SyncFacts{Quorum: 2, Members: two, Healthy: two},
			SyncPlan{Names: `ANY 2 ("pg/1", "pg/2")`, Commit: "on", InForce: 2}},
		{"strict keeps failed members listed", SyncFacts{Quorum: 1, Strict: true, Members: two, Healthy: []string{"pg/1"}},
			SyncPlan{Names: `ANY 1 ("pg/1", "pg/2")`, Commit: "on", InForce: 1}},
		{"strict with none healthy: commits wait", SyncFacts{Quorum: 1, Strict: true, Members: two},
			SyncPlan{Names: `ANY 1 ("pg/1", "pg/2")`, Commit: "on", InForce: 1,
				Note: "commits wait: 0 of 1 synchronous standbys streaming (synchronous_strict)"}},
		{"strict alone: any standby", SyncFacts{Quorum: 1, Strict: true},
			SyncPlan{Names: "ANY 1 (*)", Commit: "on", InForce: 1, Note: "commits wait for a standby (synchronous_strict)"}},
		{"strict quorum above the healthy", SyncFacts{Quorum: 2, Strict: true, Members: two, Healthy: []string{"pg/2"}},
			SyncPlan{Names: `ANY 2 ("pg/1", "pg/2")`, Commit: "on", InForce: 2,
				Note: "commits wait: 1 of 2 synchronous standbys streaming (synchronous_strict)"}},
		{"quoting", SyncFacts{Quorum: 1, Healthy: []string{`a"b/1`}},
			SyncPlan{Names: `ANY 1 ("a""b/1")`, Commit: "on", InForce: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecideSync(tc.f); got != tc.want {
				t.Errorf("DecideSync(%+v)\n got %+v\nwant %+v", tc.f, got, tc.want)
			}
		})
	}
}
