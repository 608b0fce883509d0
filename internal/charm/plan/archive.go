package plan

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// ArchiverHealth says whether WAL archiving on the primary falls behind: the last push failed
// after the last success, or more than backlog segments wait. Empty means healthy.
func ArchiverHealth(failing bool, lastFailed string, ready, backlog int) string {
	switch {
	case failing && ready > backlog:
		return fmt.Sprintf("WAL archiving failing (%s) and %d segments waiting", lastFailed, ready)
	case failing:
		return fmt.Sprintf("WAL archiving failing (%s)", lastFailed)
	case ready > backlog:
		return fmt.Sprintf("WAL archiving falling behind: %d segments waiting", ready)
	}
	return ""
}

// BackupCron is /etc/cron.d/juju-postgresql: a base backup on schedule, then retention by
// count (retain) and age (retainDays), both as postgres; with both 0 every backup is kept. Root's cron reads the file, so the schedule
// must pass CheckSchedule and every path is checked (absolute, clean, no control characters)
// and quoted for the shell, with cron's % escaped: nothing in them can add a line or a word.
func BackupCron(schedule, binary, configPath, dataDir string, retain, retainDays int) (string, error) {
	if err := CheckSchedule(schedule); err != nil {
		return "", err
	}
	for _, p := range []string{binary, configPath, dataDir} {
		if err := checkCronPath(p); err != nil {
			return "", fmt.Errorf("backup cron: %w", err)
		}
	}
	bin, conf := cronWord(binary), cronWord(configPath)
	cmd := fmt.Sprintf("%s backup-push --config %s --pgdata %s", bin, conf, cronWord(dataDir))
	if d := DeleteArgs(retain, retainDays); d != "" {
		cmd += fmt.Sprintf(" && %s delete --config %s %s --confirm", bin, conf, d)
	}
	return "# Written by the PostgreSQL charm; changes are overwritten.\n" +
		"SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n" +
		fmt.Sprintf("%s postgres %s\n", strings.Join(strings.Fields(schedule), " "), cmd), nil
}

// DeleteArgs are the delete subcommand's retention arguments; "" keeps everything.
func DeleteArgs(retain, retainDays int) string {
	var args []string
	if retainDays > 0 {
		args = append(args, fmt.Sprintf("--retain-days %d", retainDays))
	}
	if retain > 0 {
		args = append(args, fmt.Sprintf("retain %d", retain))
	}
	return strings.Join(args, " ")
}

// checkCronPath is safefs.CheckPath (plan stays free of I/O packages): absolute, clean,
// printable.
func checkCronPath(p string) error {
	if p == "" || !strings.HasPrefix(p, "/") || path.Clean(p) != p || !utf8.ValidString(p) {
		return fmt.Errorf("path %q is not absolute and clean", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("path %q holds a control character", p)
		}
	}
	return nil
}

// ShellQuote quotes one word for /bin/sh.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cronWord is a shell word in a cron command: cron turns an unescaped % into a newline
// before the shell sees the line.
func cronWord(s string) string { return strings.ReplaceAll(ShellQuote(s), "%", `\%`) }

var cronField = regexp.MustCompile(`^[0-9A-Za-z*/,?-]+$`)

// CheckSchedule accepts a five-field cron schedule (minute hour day month weekday) and
// nothing else: no time zone prefix (TZ=, CRON_TZ=), no @ macros, no control characters, so
// that it neither panics the parser nor adds to the cron file.
func CheckSchedule(s string) (err error) {
	bad := fmt.Errorf("%q is not a five-field cron schedule; use for example \"13 0 * * *\"", s)
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("%q holds a control character; use a five-field cron schedule such as \"13 0 * * *\"", s)
		}
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return bad
	}
	for _, f := range fields {
		if !cronField.MatchString(f) {
			return bad
		}
	}
	defer func() {
		if recover() != nil {
			err = bad
		}
	}()
	if _, perr := cron.ParseStandard(strings.Join(fields, " ")); perr != nil {
		return fmt.Errorf("%q is not a valid five-field cron schedule (%v); use for example \"13 0 * * *\"", s, perr)
	}
	return nil
}

// ResultKey turns a backup name into an action result key as the original charm did:
// lowercase, dashes for underscores (base_0000000100000000000000A0 → base-0000000100000000000000a0).
func ResultKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// CheckTargetTime refuses a recovery target before the oldest backup could be consistent
// (its finish time): no backup can recover to it.
func CheckTargetTime(target, oldestFinish time.Time, oldest string) error {
	if target.IsZero() || !target.Before(oldestFinish) {
		return nil
	}
	return fmt.Errorf("target-time %s is before the oldest backup %s finished (%s); choose a later time",
		target.UTC().Format("2006-01-02 15:04:05.000000Z07"), oldest, oldestFinish.UTC().Format("2006-01-02 15:04:05.000000Z07"))
}

// FormatBytes is a size for action results.
func FormatBytes(n int64) string { return strconv.FormatInt(n, 10) }

// ReadyBacklog is how many WAL segments may wait for archiving before the status says
// archiving falls behind.
const ReadyBacklog = 16

// ArchiveFacts are what the hook found about continuous archiving (wal_e_storage_uri).
type ArchiveFacts struct {
	URI string // wal_e_storage_uri; "" when archiving is off
	// Problem is what is wrong with the URI or the credentials, found without asking the store.
	Problem string
	// Store is what the store answered, when asked (it rejects the credentials, it is
	// unreachable, it holds another database's archive); "" when it is fine or was not asked.
	Store string

	Schedule           string // wal_e_backup_schedule
	Retain, RetainDays int    // wal_e_backup_retention, wal_e_backup_retention_days
	// Binary and Config are where postgres finds the charm's tools and the archive
	// configuration; DataDir is the unit's data directory (the backup's source).
	Binary, Config, DataDir string

	// The primary's archiver: the last push failed after the last success, and how many
	// segments wait.
	Failing       bool
	LastFailedWAL string
	Ready         int
}

// ArchivePlan is what the unit keeps of continuous archiving.
type ArchivePlan struct {
	// Enabled says archive_command pushes with the charm's tools, standbys restore from the
	// archive, and the archive configuration is written; otherwise it and the cron file go.
	Enabled bool
	// Cron is the backup schedule's cron file, on the primary only; "" when there is none.
	Cron string
}

// decideArchive decides archiving for a unit that is (or is not) the primary, with what the
// status says: a misconfiguration blocks, a backlog is a note beside the role.
func decideArchive(a ArchiveFacts, primary bool) (p ArchivePlan, blocked, note string) {
	if a.URI == "" {
		return p, "", ""
	}
	if a.Problem != "" {
		return p, a.Problem, ""
	}
	p.Enabled = true
	if primary && a.Schedule != "" {
		text, err := BackupCron(a.Schedule, a.Binary, a.Config, a.DataDir, a.Retain, a.RetainDays)
		if err != nil {
			// Never reached with a validated configuration and the charm's own data
			// directory; a cron file is root's, so nothing half-checked goes there.
			blocked = err.Error()
		}
		p.Cron = text
	}
	switch {
	case a.Store != "":
		if blocked == "" {
			blocked = a.Store
		}
	case primary:
		note = ArchiverHealth(a.Failing, a.LastFailedWAL, a.Ready, ReadyBacklog)
	}
	return p, blocked, note
}
