package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/safefs"
	"github.com/pgcharm/postgresql/internal/wal"
)

// RestoreRequest says what to restore to.
type RestoreRequest struct {
	// TargetTime is the recovery target; zero means the end of the archived WAL (latest).
	// At most one of TargetTime, TargetLSN, TargetXID, TargetName and TargetImmediate.
	TargetTime time.Time
	// TargetLSN ("X/Y"), TargetXID (decimal), TargetName (a restore point recorded by
	// CreateRestorePoint) and TargetImmediate (the end of the backup) are the other targets.
	TargetLSN, TargetXID, TargetName string
	TargetImmediate                  bool
	// TargetInclusive, when set, is recovery_target_inclusive (time, LSN and xid targets).
	TargetInclusive *bool
	// TargetTimeline is "latest" (default), "current" or a timeline number.
	TargetTimeline string
	// Standby asks for a standby (standby.signal, no target, follows the archive forever).
	Standby bool
	// Action is recovery_target_action when a target time is set: promote (default), pause or
	// shutdown.
	Action string
	// Binary is the charm binary restore_command runs; ConfigPath its archive configuration
	// (default DefaultConfigPath); URI, when set, is passed as --uri (restoring another
	// archive than the configured one).
	Binary, ConfigPath, URI string
}

// RestorePlan is the backup to fetch and the recovery settings to write into PostgreSQL's
// configuration before starting it.
type RestorePlan struct {
	Backup     Backup
	Settings   RecoverySettings
	SignalFile string // "recovery.signal" or "standby.signal", to create in the data directory
}

// RecoverySettings are PostgreSQL 12+ recovery parameters; empty ones are left unset.
type RecoverySettings struct {
	RestoreCommand          string `json:"restore_command"`
	RecoveryTarget          string `json:"recovery_target,omitempty"` // "immediate"
	RecoveryTargetTime      string `json:"recovery_target_time,omitempty"`
	RecoveryTargetLSN       string `json:"recovery_target_lsn,omitempty"`
	RecoveryTargetXID       string `json:"recovery_target_xid,omitempty"`
	RecoveryTargetName      string `json:"recovery_target_name,omitempty"`
	RecoveryTargetInclusive string `json:"recovery_target_inclusive,omitempty"`
	RecoveryTargetTimeline  string `json:"recovery_target_timeline,omitempty"`
	RecoveryTargetAction    string `json:"recovery_target_action,omitempty"`
}

// Pairs lists the settings that are set, as (name, value), restore_command first.
func (s RecoverySettings) Pairs() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"restore_command", s.RestoreCommand}, {"recovery_target", s.RecoveryTarget},
		{"recovery_target_time", s.RecoveryTargetTime}, {"recovery_target_lsn", s.RecoveryTargetLSN},
		{"recovery_target_xid", s.RecoveryTargetXID}, {"recovery_target_name", s.RecoveryTargetName},
		{"recovery_target_inclusive", s.RecoveryTargetInclusive},
		{"recovery_target_timeline", s.RecoveryTargetTimeline}, {"recovery_target_action", s.RecoveryTargetAction}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

// Conf renders the settings as postgresql.conf lines.
func (s RecoverySettings) Conf() string {
	var b strings.Builder
	for _, kv := range s.Pairs() {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], confQuote(kv[1]))
	}
	return b.String()
}

// confQuote quotes a postgresql.conf value: the parser takes a backslash as an escape (and
// restore_command is full of them once a path holding a quote is shell-quoted), so it is
// doubled along with quotes; line breaks would end the line and are written as escapes.
func confQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, "'", "''", "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(v) + "'"
}

// FormatTargetTime writes a time the way recovery_target_time reads it, in UTC.
func FormatTargetTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
}

// shellQuote quotes one word for /bin/sh (restore_command runs through the shell).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// PlanRestore picks the backup to restore and the recovery settings for req: for a target
// time, the newest backup that finished before it on the target timeline's history; for an
// LSN or a restore point, the newest consistent before it; for a transaction ID, the oldest
// (nothing locates a transaction in a backup); for immediate and latest, the newest. Targets
// the archive cannot reach are refused here, before the caller stops or replaces anything.
func (a *Archive) PlanRestore(ctx context.Context, req RestoreRequest) (RestorePlan, error) {
	if req.Binary == "" {
		return RestorePlan{}, errors.New("plan restore: the binary for restore_command is not set")
	}
	kind, err := req.kind()
	if err != nil {
		return RestorePlan{}, fmt.Errorf("plan restore: %w", err)
	}
	switch req.Action {
	case "", "promote", "pause", "shutdown":
	default:
		return RestorePlan{}, fmt.Errorf("plan restore: recovery target action %q: want promote, pause or shutdown", req.Action)
	}
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return RestorePlan{}, fmt.Errorf("plan restore: %w", err)
	}
	w, err := a.scanWAL(ctx)
	if err != nil {
		return RestorePlan{}, fmt.Errorf("plan restore: %w", err)
	}
	tli := w.latestTLI()
	for _, b := range backups {
		tli = max(tli, b.Timeline)
	}
	tlSetting := "latest"
	switch tt := strings.TrimSpace(req.TargetTimeline); tt {
	case "", "latest":
	case "current":
		tlSetting = "current"
	default:
		n, err := strconv.ParseUint(tt, 10, 32)
		if err != nil || n == 0 {
			return RestorePlan{}, fmt.Errorf("plan restore: target timeline %q: want latest, current or a number", tt)
		}
		if !w.knowsTimeline(uint32(n), backups) {
			return RestorePlan{}, fmt.Errorf("plan restore: target timeline %d is unknown to the archive (no history file, WAL or backup of it; the newest is %d)", n, tli)
		}
		tli, tlSetting = uint32(n), tt
	}
	var tl wal.Timeline
	if tlSetting == "current" {
		// Recovery stays on the backup's own timeline: any backup qualifies on its own.
		tl = wal.Timeline{}
	} else {
		tl, err = a.timeline(ctx, w, tli)
		if err != nil {
			a.logf("plan restore: %v; only backups on timeline %d qualify", err, tli)
		}
	}
	plan := RestorePlan{SignalFile: "recovery.signal"}
	if req.Standby {
		b, err := ChooseBackup(backups, time.Time{}, tl, tlSetting == "current")
		if err != nil {
			return RestorePlan{}, fmt.Errorf("plan restore: %w", err)
		}
		plan.Backup, plan.SignalFile = b, "standby.signal"
	} else {
		b, err := a.planTarget(ctx, req, kind, backups, w, tl, tlSetting == "current", &plan.Settings)
		if err != nil {
			return RestorePlan{}, fmt.Errorf("plan restore: %w", err)
		}
		plan.Backup = b
		if kind != TargetLatest {
			plan.Settings.RecoveryTargetAction = req.Action
			if req.Action == "" {
				plan.Settings.RecoveryTargetAction = "promote"
			}
			if req.TargetInclusive != nil {
				plan.Settings.RecoveryTargetInclusive = strconv.FormatBool(*req.TargetInclusive)
			}
		}
	}
	plan.Settings.RestoreCommand = RestoreCommand(req.Binary, req.ConfigPath, req.URI)
	plan.Settings.RecoveryTargetTimeline = tlSetting
	return plan, nil
}

// ChooseBackup picks, among backups, the one that finished last before target (any time when
// target is zero) and whose WAL lies on timeline tl's history: its timeline is tl or an
// ancestor left after the backup's finish LSN. With anyTimeline, the timeline is not checked.
func ChooseBackup(backups []Backup, target time.Time, tl wal.Timeline, anyTimeline bool) (Backup, error) {
	var cands []Backup
	var tooLate, wrongTL []string
	var delta []string
	for _, b := range backups {
		if b.IsDelta || b.Unsupported != "" {
			delta = append(delta, b.Name)
			continue
		}
		if !target.IsZero() && b.FinishTime.After(target) {
			tooLate = append(tooLate, b.Name)
			continue
		}
		if !anyTimeline && !tl.Contains(b.Timeline, b.FinishLSN) {
			wrongTL = append(wrongTL, b.Name)
			continue
		}
		cands = append(cands, b)
	}
	if len(cands) == 0 {
		msg := "no backup to restore"
		if len(backups) == 0 {
			return Backup{}, errors.New(msg + ": the archive has no complete backup")
		}
		if !target.IsZero() {
			msg += " finished before " + FormatTargetTime(target)
		}
		if len(wrongTL) > 0 {
			msg += fmt.Sprintf(" on timeline %d's history (%s are on other branches)", tl.TLI, strings.Join(wrongTL, ", "))
		}
		if len(tooLate) > 0 {
			msg += fmt.Sprintf(" (%s finished after the target)", strings.Join(tooLate, ", "))
		}
		if len(delta) > 0 {
			msg += fmt.Sprintf(" (%s cannot be restored by the charm: WAL-G delta backups, which WAL-G's own backup-fetch restores, or unsupported WAL-E backups)", strings.Join(delta, ", "))
		}
		return Backup{}, errors.New(msg)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if !cands[i].FinishTime.Equal(cands[j].FinishTime) {
			return cands[i].FinishTime.Before(cands[j].FinishTime)
		}
		return cands[i].FinishLSN < cands[j].FinishLSN
	})
	return cands[len(cands)-1], nil
}

// Restore fetches the plan's backup into dir and configures recovery there: the settings
// appended to postgresql.auto.conf and the signal file created. The charm writes the settings
// into its own include instead and uses BackupFetch directly; this is for the CLI.
func Restore(ctx context.Context, a *Archive, plan RestorePlan, dir string, opt BackupFetchOptions) error {
	if _, err := a.BackupFetch(ctx, plan.Backup.Name, dir, opt); err != nil {
		return err
	}
	// The archive may have planted links at these names: they are replaced, never followed.
	d, err := safefs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer d.Close()
	auto := "postgresql.auto.conf"
	old, err := readSmall(d, auto)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	conf := append(old, "# recovery settings written by restore\n"+plan.Settings.Conf()...)
	if err := d.WriteFile(auto, conf, 0o600, opt.Owner.safe()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := d.WriteFile(plan.SignalFile, nil, 0o600, opt.Owner.safe()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// readSmall reads a regular file beneath d (a link reads as absent), nil when missing.
func readSmall(d *safefs.Dir, name string) ([]byte, error) {
	f, err := d.Open(name)
	if errors.Is(err, fs.ErrNotExist) || safefs.InTheWay(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}
