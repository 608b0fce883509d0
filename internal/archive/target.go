package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// TargetKind names a recovery target as PostgreSQL's recovery_target_* settings do.
type TargetKind string

const (
	TargetLatest    TargetKind = ""          // no target: the end of the archived WAL
	TargetTime      TargetKind = "time"      // recovery_target_time
	TargetLSN       TargetKind = "lsn"       // recovery_target_lsn
	TargetXID       TargetKind = "xid"       // recovery_target_xid
	TargetName      TargetKind = "name"      // recovery_target_name (a restore point)
	TargetImmediate TargetKind = "immediate" // recovery_target = 'immediate': the end of the backup
)

// kind says which target a request names, refusing more than one (PostgreSQL refuses to
// start with several, after the data directory was already replaced).
func (r RestoreRequest) kind() (TargetKind, error) {
	var set []string
	var k TargetKind
	if !r.TargetTime.IsZero() {
		set, k = append(set, "target-time"), TargetTime
	}
	if r.TargetLSN != "" {
		set, k = append(set, "target-lsn"), TargetLSN
	}
	if r.TargetXID != "" {
		set, k = append(set, "target-xid"), TargetXID
	}
	if r.TargetName != "" {
		set, k = append(set, "target-name"), TargetName
	}
	if r.TargetImmediate {
		set, k = append(set, "target=immediate"), TargetImmediate
	}
	if len(set) > 1 {
		return "", fmt.Errorf("give at most one recovery target, not %s", strings.Join(set, " and "))
	}
	if r.Standby && k != TargetLatest {
		return "", fmt.Errorf("a standby follows the archive without a recovery target (%s given)", set[0])
	}
	if r.TargetInclusive != nil && k != TargetTime && k != TargetLSN && k != TargetXID {
		return "", errors.New("target-inclusive applies to target-time, target-lsn and target-xid only")
	}
	return k, nil
}

// ParseXID checks a recovery_target_xid: a transaction ID, decimal (32-bit, or 64-bit with
// the epoch as pg_current_xact_id() prints it), at least 3 (lower ones are reserved).
func ParseXID(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 3 {
		return 0, fmt.Errorf("target xid %q: want a transaction ID, e.g. 7654 (SELECT pg_current_xact_id())", s)
	}
	return n, nil
}

// RestorePoint is a named restore point created with CreateRestorePoint and recorded in the
// archive, so that a restore to it can be checked before anything is stopped.
type RestorePoint struct {
	Name     string    `json:"name"`
	LSN      wal.LSN   `json:"lsn"`
	Timeline uint32    `json:"timeline"`
	Time     time.Time `json:"time"`
}

// MarshalJSON writes the LSN in PostgreSQL's notation.
func (p RestorePoint) MarshalJSON() ([]byte, error) {
	type plain RestorePoint
	return json.Marshal(struct {
		plain
		LSN string `json:"lsn"`
	}{plain(p), p.LSN.String()})
}

// RestorePointFolder holds one JSON object per restore point the charm created: an addition
// to WAL-G's layout (WAL-G ignores it; delete never removes it).
const RestorePointFolder = "pgcharm_restore_points/"

var restorePointNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$`)

// CheckRestorePointName accepts names that are safe as object names and as SQL literals.
func CheckRestorePointName(name string) error {
	if !restorePointNameRE.MatchString(name) {
		return fmt.Errorf("restore point name %q: want 1 to 63 letters, digits, '_', '.', ':' or '-', starting with a letter or digit", name)
	}
	return nil
}

// FindRestorePoint reads a recorded restore point; the error wraps store.ErrNotFound when the
// archive has none of that name.
func (a *Archive) FindRestorePoint(ctx context.Context, name string) (RestorePoint, error) {
	if err := CheckRestorePointName(name); err != nil {
		return RestorePoint{}, err
	}
	var p struct {
		RestorePoint
		LSN string `json:"lsn"`
	}
	if err := a.readJSON(ctx, RestorePointFolder+name+".json", &p); err != nil {
		return RestorePoint{}, err
	}
	lsn, err := wal.ParseLSN(p.LSN)
	if err != nil {
		return RestorePoint{}, fmt.Errorf("restore point %s: %w", name, err)
	}
	p.RestorePoint.LSN = lsn
	return p.RestorePoint, nil
}

// CreateRestorePoint creates a named restore point on the primary connString reaches
// (pg_create_restore_point), switches to a new WAL segment so that the point is archived at
// once, and records it in the archive. A name already recorded is refused: recovery would
// stop at the first of two points of the same name.
func (a *Archive) CreateRestorePoint(ctx context.Context, connString, name string) (RestorePoint, error) {
	if err := CheckRestorePointName(name); err != nil {
		return RestorePoint{}, err
	}
	if old, err := a.FindRestorePoint(ctx, name); err == nil {
		return RestorePoint{}, fmt.Errorf("restore point %s already exists (at %s on timeline %d, %s): choose another name",
			name, old.LSN, old.Timeline, old.Time.UTC().Format(time.RFC3339))
	} else if !errors.Is(err, store.ErrNotFound) {
		return RestorePoint{}, err
	}
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return RestorePoint{}, fmt.Errorf("restore point: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return RestorePoint{}, fmt.Errorf("restore point: %w", err)
	}
	if inRecovery {
		return RestorePoint{}, errors.New("restore point: this server is a standby; create restore points on the primary")
	}
	var lsn string
	var tli int64
	var at time.Time
	if err := conn.QueryRow(ctx, `SELECT pg_create_restore_point($1)::text, (SELECT timeline_id FROM pg_control_checkpoint()), clock_timestamp()`,
		name).Scan(&lsn, &tli, &at); err != nil {
		return RestorePoint{}, fmt.Errorf("restore point %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		return RestorePoint{}, fmt.Errorf("restore point %s: switch WAL: %w", name, err)
	}
	l, err := wal.ParseLSN(lsn)
	if err != nil {
		return RestorePoint{}, err
	}
	p := RestorePoint{Name: name, LSN: l, Timeline: uint32(tli), Time: at.UTC()}
	if err := a.putJSON(ctx, RestorePointFolder+name+".json", p); err != nil {
		return RestorePoint{}, fmt.Errorf("restore point %s was created at %s but not recorded: %w", name, l, err)
	}
	return p, nil
}

// chooseForLSN picks the newest backup consistent at or before lsn on timeline tl's history
// (recovery cannot stop before a backup's end).
func chooseForLSN(backups []Backup, lsn wal.LSN, tl wal.Timeline, anyTimeline bool, what string) (Backup, error) {
	var cands []Backup
	var after []string
	for _, b := range backups {
		if b.IsDelta || b.Unsupported != "" {
			continue
		}
		if !anyTimeline && !tl.Contains(b.Timeline, b.FinishLSN) {
			continue
		}
		if b.FinishLSN > lsn {
			after = append(after, b.Name)
			continue
		}
		cands = append(cands, b)
	}
	if len(cands) == 0 {
		msg := fmt.Sprintf("no backup to restore ends before %s", what)
		if len(after) > 0 {
			msg += fmt.Sprintf(" (%s end after it: the target is before the oldest backup)", strings.Join(after, ", "))
		}
		return Backup{}, errors.New(msg)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].FinishLSN < cands[j].FinishLSN })
	return cands[len(cands)-1], nil
}

// chooseOldest picks the oldest restorable backup on the timeline's history: for a target
// the backups do not locate (a transaction ID), the one whose replay passes the most WAL.
func chooseOldest(backups []Backup, tl wal.Timeline, anyTimeline bool) (Backup, error) {
	for _, b := range backups { // oldest first
		if b.IsDelta || b.Unsupported != "" || (!anyTimeline && !tl.Contains(b.Timeline, b.FinishLSN)) {
			continue
		}
		return b, nil
	}
	return Backup{}, errors.New("no restorable backup on the target timeline's history")
}

// walEnd is where the archived WAL along tl ends: the end of its newest segment, and that
// segment's store time.
func (w archiveWAL) walEnd(tl wal.Timeline) (wal.LSN, time.Time, bool) {
	var end wal.LSN
	var mod time.Time
	found := false
	for s, m := range w.modified {
		if tl.TimelineOfSegment(s.SegNo) != s.TLI {
			continue
		}
		if e := wal.LSN((s.SegNo + 1) * wal.SegmentSize); e > end {
			end, found = e, true
		}
		if m.After(mod) {
			mod = m
		}
	}
	return end, mod, found
}

// knowsTimeline says whether the archive has anything of timeline tli.
func (w archiveWAL) knowsTimeline(tli uint32, backups []Backup) bool {
	if _, ok := w.histories[tli]; ok || tli == 1 {
		return true
	}
	for s := range w.segments {
		if s.TLI == tli {
			return true
		}
	}
	for _, b := range backups {
		if b.Timeline == tli {
			return true
		}
	}
	return false
}

// storeTimeGranularity is the coarsest modification time a store reports.
const storeTimeGranularity = time.Second

// planTarget chooses the backup for the request's target and refuses targets the archive
// cannot reach: before the oldest backup, beyond the newest archived WAL, a restore point it
// has no record of, or one on another branch.
func (a *Archive) planTarget(ctx context.Context, req RestoreRequest, k TargetKind, backups []Backup, w archiveWAL, tl wal.Timeline, anyTL bool, s *RecoverySettings) (Backup, error) {
	end, endTime, haveWAL := w.walEnd(tl)
	beyond := func(lsn wal.LSN, what string) error {
		if haveWAL && lsn > end {
			return fmt.Errorf("%s is beyond the newest archived WAL (which ends at %s on timeline %d's history): recovery would end before reaching it", what, end, tl.TLI)
		}
		if !haveWAL {
			return fmt.Errorf("the archive holds no WAL on timeline %d's history to reach %s", tl.TLI, what)
		}
		return nil
	}
	switch k {
	case TargetTime:
		// Stores report modification times in whole seconds (Azure, S3's headers): the
		// newest segment may have been stored up to a second after the time given.
		if haveWAL && req.TargetTime.After(endTime.Add(storeTimeGranularity)) {
			return Backup{}, fmt.Errorf("target time %s is after the newest archived WAL (archived %s): recovery would end before reaching it",
				FormatTargetTime(req.TargetTime), FormatTargetTime(endTime))
		}
		s.RecoveryTargetTime = FormatTargetTime(req.TargetTime)
		return ChooseBackup(backups, req.TargetTime, tl, anyTL)
	case TargetLSN:
		lsn, err := wal.ParseLSN(req.TargetLSN)
		if err != nil {
			return Backup{}, fmt.Errorf("target lsn: %w", err)
		}
		if err := beyond(lsn, "target LSN "+lsn.String()); err != nil {
			return Backup{}, err
		}
		s.RecoveryTargetLSN = lsn.String()
		return chooseForLSN(backups, lsn, tl, anyTL, "target LSN "+lsn.String())
	case TargetName:
		p, err := a.FindRestorePoint(ctx, req.TargetName)
		if errors.Is(err, store.ErrNotFound) {
			return Backup{}, fmt.Errorf("no restore point %q is recorded in %s (wal-e-restore-point records them); for a point made otherwise, restore to its LSN with target-lsn", req.TargetName, a.src())
		}
		if err != nil {
			return Backup{}, err
		}
		what := fmt.Sprintf("restore point %s (%s on timeline %d)", p.Name, p.LSN, p.Timeline)
		if !anyTL && !tl.Contains(p.Timeline, p.LSN) {
			return Backup{}, fmt.Errorf("%s is not on timeline %d's history", what, tl.TLI)
		}
		if err := beyond(p.LSN, what); err != nil {
			return Backup{}, err
		}
		s.RecoveryTargetName = p.Name
		return chooseForLSN(backups, p.LSN, tl, anyTL, what)
	case TargetXID:
		if _, err := ParseXID(req.TargetXID); err != nil {
			return Backup{}, err
		}
		if !haveWAL {
			return Backup{}, fmt.Errorf("the archive holds no WAL on timeline %d's history to reach transaction %s", tl.TLI, req.TargetXID)
		}
		s.RecoveryTargetXID = strings.TrimSpace(req.TargetXID)
		return chooseOldest(backups, tl, anyTL)
	case TargetImmediate:
		s.RecoveryTarget = "immediate"
		return ChooseBackup(backups, time.Time{}, tl, anyTL)
	}
	return ChooseBackup(backups, time.Time{}, tl, anyTL)
}
