package plan

import "strings"

// Status is a unit status to set.
type Status struct {
	Name    string // active, waiting, maintenance, blocked
	Message string
}

// Unit status names, in precedence order: a unit that needs the operator says so over
// work in progress, work in progress over waiting for another unit, and waiting over
// running.
const (
	StatusBlocked     = "blocked"
	StatusMaintenance = "maintenance"
	StatusWaiting     = "waiting"
	StatusActive      = "active"
)

// StatusFacts are the findings of one hook that bear on the unit's status, each filled in
// by the stage that found it. A finding the hook never reached (it stopped earlier) stays
// empty. UnitStatus is the one place that turns them into what the operator sees.
type StatusFacts struct {
	// Teardown is the status of a unit that is leaving or lost its storage (Teardown):
	// said whatever else holds, since nothing else is looked at.
	Teardown Status

	Config       string   // blocks: an option the charm cannot use (Config.Problems, the version option)
	ConfFile     string   // blocks: postgresql.conf names another data directory or socket
	ServerConfig string   // blocks: the server refused extra_pg_conf or extra_pg_auth
	Local        Status   // where the local steps left the unit (DecideLocal, or why a step waits)
	Refused      []string // blocks: client relations refused, "db:3: reason"
	Archive      string   // blocks: the archive is misconfigured or the store refuses it

	NoSecret bool   // waits: the leader has not created the application's secret yet
	NoCA     bool   // waits: the leader has not put the CA in the application's secret yet
	Choosing string // waits: why the leader has not chosen a primary yet
	Restart  bool   // waits: settings wait for the restart lock

	ArchiveHealth string // a note beside active: archiving falls behind
	OldData       string // a note beside active: moved-aside data kept
	Sync          string // a note beside active: the primary's quorum commit is not as configured (DecideSync)
}

// Messages UnitStatus words itself.
const (
	msgNoSecret  = "Waiting for the leader to create the replication secret"
	msgNoCA      = "Waiting for the leader to create the certificate authority"
	msgRestart   = "Waiting for permission to restart"
	msgSettingUp = "Setting up"
)

// UnitStatus answers "why is my unit blocked?" (or waiting, or in maintenance): a
// teardown's status over everything, then blocked over maintenance over waiting over
// active. Within blocked, the finding listed first in StatusFacts wins; within waiting,
// what the leader has not done yet (the secret, the CA, the choice of a primary) comes
// before the local step's wait, and the restart lock last. Notes (quorum commit, archiving
// health, old data kept, in that order) are added to an active status only, where they do
// not hide what the operator must do.
func UnitStatus(f StatusFacts) Status {
	if f.Teardown.Name != "" {
		return f.Teardown
	}
	blocked := func(msg string) Status { return Status{StatusBlocked, msg} }
	switch {
	case f.Config != "":
		return blocked(f.Config)
	case f.ConfFile != "":
		return blocked(f.ConfFile)
	case f.ServerConfig != "":
		return blocked(f.ServerConfig)
	case f.Local.Name == StatusBlocked:
		return f.Local
	case len(f.Refused) > 0:
		return blocked("Refused " + strings.Join(f.Refused, "; "))
	case f.Archive != "":
		return blocked(f.Archive)
	case f.Local.Name == StatusMaintenance:
		return f.Local
	case f.NoSecret:
		return Status{StatusWaiting, msgNoSecret}
	case f.NoCA:
		return Status{StatusWaiting, msgNoCA}
	case f.Choosing != "":
		return Status{StatusWaiting, f.Choosing}
	case f.Local.Name == StatusWaiting:
		return f.Local
	case f.Restart:
		return Status{StatusWaiting, msgRestart}
	case f.Local.Name == StatusActive:
		s := f.Local
		for _, note := range []string{f.Sync, f.ArchiveHealth, f.OldData} {
			if note != "" {
				s.Message += "; " + note
			}
		}
		return s
	}
	return Status{StatusMaintenance, msgSettingUp}
}
