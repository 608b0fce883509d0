package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

// The actions' decisions. An action runs as a hook does: the charm observes (Juju's facts,
// and the local server when the action acts on it), one function here decides whether
// this unit may run it and on what, and the charm acts. A refusal is the action's failure
// message, given before anything is changed.

// PrimaryEndpoint is get-primary's answer: the primary and the address it published.
func PrimaryEndpoint(o Observed) (primary, address, refused string) {
	primary = o.AppBag.Primary
	if primary == "" {
		return "", "", "no primary has been chosen yet"
	}
	if primary == o.Unit {
		return primary, o.Address, ""
	}
	rep, _ := ParseUnitReport(primary, o.Peers[primary])
	return primary, rep.Address, ""
}

// SwitchoverDecision is what the switchover action does: fail with Refused, succeed at
// once with Result, or wait up to Timeout for Target to catch up with Primary.
type SwitchoverDecision struct {
	Refused string
	Result  string
	Primary string
	Target  string
	Timeout time.Duration
}

// DecideSwitchover checks a switchover to target (the action's master parameter) with a
// timeout in seconds (nil: def): only the leader records a primary, and only a unit of the
// application that holds a database can become it.
func DecideSwitchover(o Observed, target string, timeout *int, def time.Duration) SwitchoverDecision {
	d := SwitchoverDecision{Primary: o.AppBag.Primary, Target: target, Timeout: def}
	if timeout != nil {
		if *timeout < 0 {
			d.Refused = fmt.Sprintf("timeout must be a number of seconds, 0 or more; got %d", *timeout)
			return d
		}
		d.Timeout = time.Duration(*timeout) * time.Second
	}
	if !o.Leader {
		d.Refused = "switchover must be run on the leader unit"
		return d
	}
	if target == d.Primary {
		d.Result = target + " is already master"
		return d
	}
	var hasData bool
	if data, ok := o.Peers[target]; ok {
		rep, _ := ParseUnitReport(target, data)
		hasData = rep.HasData
	} else if target == o.Unit {
		hasData = o.Self[KeyHasData] == "true"
	} else {
		d.Refused = fmt.Sprintf("%s is not a unit of this application", target)
		return d
	}
	switch {
	case !hasData:
		d.Refused = fmt.Sprintf("%s holds no database yet; wait until it is a live secondary", target)
	case d.Primary == "":
		d.Refused = "no primary has been chosen yet"
	case o.AppBag.SecretID == "":
		d.Refused = "the application secret does not exist yet"
	}
	return d
}

// ServerPosition is what the switchover reads of a server to judge whether the target has
// caught up.
type ServerPosition struct {
	InRecovery   bool
	SystemID     string
	Timeline     int
	Receiver     string // the WAL receiver's status on a standby ("streaming")
	ReplayPaused bool
	Current      wal.LSN // the primary's current WAL position
	Replayed     wal.LSN // a standby's replayed position
	Flushed      wal.LSN // a standby's received and flushed position
}

// CatchUp is the switchover's judgement of one reading of the target: it has replayed the
// primary's position at (Done), it cannot get there by itself (Refused), or it gets more
// time until the action's timeout expired.
type CatchUp struct {
	Done    bool
	Refused string
}

// JudgeCatchUp judges target, a standby that is to replay the primary's position at (read
// on the primary p), from its reading t. A target that is not streaming (even one that has
// replayed everything so far: the primary's final WAL would not reach it) gets the timeout
// to reconnect; one that is not a standby, holds another database or has its replay paused
// is refused at once.
func JudgeCatchUp(target string, p ServerPosition, at wal.LSN, t ServerPosition, expired bool, timeout time.Duration) CatchUp {
	streaming := t.Receiver == "streaming"
	switch {
	case !t.InRecovery:
		return CatchUp{Refused: fmt.Sprintf("%s is not a standby", target)}
	case t.SystemID != p.SystemID:
		return CatchUp{Refused: fmt.Sprintf("%s holds another database (system id %s, the primary's is %s)", target, t.SystemID, p.SystemID)}
	case t.ReplayPaused:
		return CatchUp{Refused: fmt.Sprintf("%s's WAL replay is paused (replication-pause) at %s, the primary is at %s; run replication-resume on %s first",
			target, t.Replayed, at, target)}
	case streaming && t.Timeline == p.Timeline && t.Replayed >= at:
		return CatchUp{Done: true}
	case expired && !streaming:
		return CatchUp{Refused: fmt.Sprintf("%s is not streaming from the primary (WAL receiver %q after %s), replayed %s of %s: it would promote without the primary's last WAL",
			target, t.Receiver, timeout, t.Replayed, at)}
	case expired:
		return CatchUp{Refused: fmt.Sprintf("%s replayed %s of the primary's %s in %s (received %s); wait until it catches up or give a longer timeout",
			target, t.Replayed, at, timeout, t.Flushed)}
	}
	return CatchUp{}
}

// NotStandby is replication-pause's and replication-resume's refusal on a unit that is not
// a hot standby, in the original charm's words, which operators' runbooks match.
const NotStandby = "Not a hot standby"

// ReplayDecision is what replication-pause or -resume does: refuse, or report Result,
// pausing or resuming the replay when Act says so.
type ReplayDecision struct {
	Refused string
	Act     bool
	Result  string
}

// DecideReplay decides replication-pause (pause) or replication-resume on a unit whose
// server is configured and running or not, in recovery or not, its replay paused or not.
func DecideReplay(pause, configured, running, inRecovery, paused bool) ReplayDecision {
	switch {
	case !configured:
		return ReplayDecision{Refused: NotStandby + ": PostgreSQL is not set up on this unit"}
	case !running:
		return ReplayDecision{Refused: NotStandby + ": PostgreSQL is not running on this unit"}
	case !inRecovery:
		return ReplayDecision{Refused: NotStandby}
	case pause && paused:
		return ReplayDecision{Result: "Already paused"}
	case pause:
		return ReplayDecision{Act: true, Result: "Paused"}
	case !paused:
		return ReplayDecision{Result: "Already resumed"}
	}
	return ReplayDecision{Act: true, Result: "Resumed"}
}

// RefuseArchiveWrite says why an action that writes to the application's archive
// (wal-e-backup, wal-e-restore-point) may not run on this unit: only the primary writes to
// it, and only to an archive that is configured and usable. The primary here is the
// recorded one (the application bag's), judged before the local server is read: not
// IsPrimary, which needs the server's facts.
func RefuseArchiveWrite(action string, o Observed) string {
	switch primary := o.AppBag.Primary; {
	case primary != o.Unit:
		if primary == "" {
			primary = "(not chosen yet)"
		}
		return fmt.Sprintf("%s must run on the primary unit, %s (this is %s)", action, primary, o.Unit)
	case o.Archive.URI == "":
		return "wal_e_storage_uri is not set; configure the archive first"
	}
	return o.Archive.Problem
}

// RestoreSource is the archive wal-e-restore is asked to restore from, as the charm judged
// it: whether it is the application's own archive, and what is wrong with it before any
// store is asked.
type RestoreSource struct {
	URI     string
	Own     bool
	Problem string
}

// RefuseRestoreSource refuses a restore from the application's own archive (the restored
// database would archive into the archive it restores from) or from an unusable one.
func RefuseRestoreSource(s RestoreSource) string {
	if s.Own {
		return fmt.Sprintf("storage-uri %s is this application's own wal_e_storage_uri; set wal_e_storage_uri to a new, unique URI first", s.URI)
	}
	return s.Problem
}

// RestoreDecision is where wal-e-restore goes once the archive holds a backup to restore:
// refuse (WouldReplace says what an unconfirmed restore would have replaced), restore the
// primary's database from the archive (OnPrimary), or re-clone this standby from Follow,
// the restored primary, whose restore is FollowRestore.
type RestoreDecision struct {
	Refused       string
	WouldReplace  string
	OnPrimary     bool
	Follow        string
	FollowRestore string
}

// DecideRestore decides wal-e-restore on this unit, whose database lives in dataDir. The
// primary (or a unit alone, with no primary chosen yet) restores from the archive; a
// standby clones the primary once that runs the restored database, which is what
// recovering the same backup and then following the primary would converge to.
func DecideRestore(o Observed, dataDir string, confirm bool) RestoreDecision {
	var d RestoreDecision
	if o.ConfFile != "" {
		d.Refused = o.ConfFile
		return d
	}
	if !confirm {
		d.WouldReplace = "nothing (no database here yet)"
		if l := o.Local; l.HasData {
			role := string(RoleOf(l))
			if role == "" {
				role = "stopped"
			}
			d.WouldReplace = fmt.Sprintf("the database in %s (system id %s, timeline %d, %s)", dataDir, l.SystemID, l.Timeline, role)
		}
		d.Refused = fmt.Sprintf("not confirmed: this would replace %s; run again with confirm=true", d.WouldReplace)
		return d
	}
	primary := o.AppBag.Primary
	if primary == o.Unit || (primary == "" && len(o.Peers) == 0) {
		d.OnPrimary = true
		return d
	}
	data, ok := o.Peers[primary]
	if primary == "" || !ok {
		d.Refused = "no primary to follow yet; restore the primary first"
		return d
	}
	rep, _ := ParseUnitReport(primary, data)
	if rep.Role != RolePrimary || rep.Address == "" {
		d.Refused = fmt.Sprintf("primary %s is not running; restore or start it first", primary)
		return d
	}
	d.Follow, d.FollowRestore = primary, rep.Restore
	return d
}

// RefuseRemoveOldData says why remove-old-data does not delete the kept copies at paths:
// it deletes only what the operator confirmed.
func RefuseRemoveOldData(paths []string, confirm bool) string {
	if len(paths) == 0 || confirm {
		return ""
	}
	return "not confirmed: this would delete " + strings.Join(paths, ", ") + "; run again with confirm=true"
}
