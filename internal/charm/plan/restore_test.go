package plan

import "testing"

func TestInterruptedRestore(t *testing.T) {
	m := func(phase, moved string) *RestoreMarker {
		return &RestoreMarker{Backup: "base_000000010000000000000002", URI: "s3://b/p", Phase: phase, Moved: moved}
	}
	const old = "/srv/pgdata/15/main.moved-restore-20261204T040000"
	cases := []struct {
		name  string
		m     *RestoreMarker
		msg   string
		stale bool
	}{
		{"no restore", nil, "", false},
		{"killed before anything changed", m(RestoreStarted, ""), "", true},
		{"killed between moving the data aside and the fetch", m(RestoreFetching, old),
			"wal-e-restore of base_000000010000000000000002 from s3://b/p was interrupted before the backup was fetched: the data directory " +
				"holds a partial copy; the database before it is kept in " + old + ": run wal-e-restore again, or wal-e-restore-undo to put it back", false},
		{"killed during the fetch on a unit that had no database", m(RestoreFetching, ""),
			"wal-e-restore of base_000000010000000000000002 from s3://b/p was interrupted before the backup was fetched: the data directory " +
				"holds a partial copy; run wal-e-restore again", false},
		{"killed during recovery", m(RestoreRecovering, old),
			"wal-e-restore of base_000000010000000000000002 from s3://b/p was interrupted during recovery: the data directory holds the " +
				"fetched backup, not yet promoted; the database before it is kept in " + old + ": run wal-e-restore again, or wal-e-restore-undo to put it back", false},
	}
	for _, tc := range cases {
		msg, stale := InterruptedRestore(tc.m)
		if msg != tc.msg || stale != tc.stale {
			t.Errorf("%s: got %q %v, want %q %v", tc.name, msg, stale, tc.msg, tc.stale)
		}
	}
}
