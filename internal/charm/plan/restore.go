package plan

import "fmt"

// RestoreMarker is what wal-e-restore records, in a file only root writes, before it
// touches the data directory, and removes once the restored server promoted or the old
// data was put back. A restore killed half-way (the unit rebooted, the action was
// cancelled) leaves it for the next hook to recognise.
type RestoreMarker struct {
	Backup string `json:"backup"`
	URI    string `json:"storage-uri"`
	Phase  string `json:"phase"` // RestoreStarted, RestoreFetching or RestoreRecovering
	Moved  string `json:"moved"` // where the database before the restore went ("" if there was none)
}

// Phases of a restore, each recorded before the step it names begins.
const (
	RestoreStarted    = "started"    // nothing changed yet (the server may have been stopped)
	RestoreFetching   = "fetching"   // the old data was moved aside; the data directory is being filled
	RestoreRecovering = "recovering" // the backup is fetched; the server replays WAL to the target
)

// InterruptedRestore says what a restore that did not finish left behind: a message for
// the blocked status, or stale when it changed nothing (the marker can go and the unit
// carry on as before).
func InterruptedRestore(m *RestoreMarker) (msg string, stale bool) {
	if m == nil {
		return "", false
	}
	when := "before the backup was fetched: the data directory holds a partial copy"
	switch m.Phase {
	case RestoreStarted, "":
		return "", true
	case RestoreRecovering:
		when = "during recovery: the data directory holds the fetched backup, not yet promoted"
	}
	msg = fmt.Sprintf("wal-e-restore of %s from %s was interrupted %s; ", m.Backup, m.URI, when)
	if m.Moved == "" {
		return msg + "run wal-e-restore again", false
	}
	return msg + fmt.Sprintf("the database before it is kept in %s: run wal-e-restore again, or wal-e-restore-undo to put it back", m.Moved), false
}
