package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// DeleteRequest selects what delete removes. Retain keeps the newest N backups on the current
// timeline's history; RetainDays keeps every backup younger than that many days plus the
// newest older one on that history; with both, a backup goes only when both allow it. Before
// keeps the named backup and everything newer. Permanent backups always stay, and so does
// the WAL every kept backup needs. Without Confirm nothing is deleted (dry run).
type DeleteRequest struct {
	Retain     int
	RetainDays int
	Before     string
	Confirm    bool
	// Now is the time ages are measured from (zero: the clock).
	Now time.Time
}

// DeletePlan is what a delete removes or would remove.
type DeletePlan struct {
	Keep    []Backup
	Drop    []Backup
	Objects []string // every object key to delete, sentinels first
	// WALCutoff: WAL segments numbered below it (on any timeline) go; the oldest kept
	// backup starts at it.
	WALCutoff uint64
	// Timeline is the current (newest) timeline whose history retention follows; OffHistory
	// names the backups on other branches (a restore into the same archive forked away from
	// them), which never count towards Retain.
	Timeline   uint32
	OffHistory map[string]bool
}

// SelectRetained splits backups (oldest first) into kept and dropped as if all were on one
// history; see selectRetained.
func SelectRetained(backups []Backup, req DeleteRequest) (keep, drop []Backup, err error) {
	return selectRetained(backups, req, func(Backup) bool { return true })
}

// selectRetained splits backups into kept and dropped. Those onHistory (on the current
// timeline's history) are ordered by WAL position, which only grows along one history; the
// others are off the live branch and are judged by time: they stay while they are newer than
// the oldest backup the count keeps on the history, or younger than RetainDays. Permanent
// backups are always kept; Retain counts the newest backups, permanent or not.
func selectRetained(backups []Backup, req DeleteRequest, onHistory func(Backup) bool) (keep, drop []Backup, err error) {
	switch {
	case req.Retain < 0 || req.RetainDays < 0:
		return nil, nil, errors.New("delete: retain and retain-days must not be negative")
	case (req.Retain > 0 || req.RetainDays > 0) && req.Before != "":
		return nil, nil, errors.New("delete: give either retain N (and/or retain-days D) or before NAME, not both")
	case req.Before != "":
		idx := -1
		for i, b := range backups {
			if b.Name == req.Before {
				idx = i
			}
		}
		if idx < 0 {
			return nil, nil, fmt.Errorf("delete before %s: %w", req.Before, ErrBackupNotFound)
		}
		for i, b := range backups {
			if i >= idx || b.IsPermanent {
				keep = append(keep, b)
			} else {
				drop = append(drop, b)
			}
		}
		return keep, drop, nil
	case req.Retain == 0 && req.RetainDays == 0:
		return nil, nil, errors.New("delete: retain must be at least 1 (or give retain-days D or before NAME)")
	}
	var hist []Backup
	for _, b := range backups {
		if onHistory(b) {
			hist = append(hist, b)
		}
	}
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].StartLSN < hist[j].StartLSN })
	// Each policy says which backups it allows to go; a backup goes when every policy given
	// allows it.
	allowCount := func(b Backup) bool { return true }
	if req.Retain > 0 {
		kept := map[string]bool{}
		for _, b := range hist[max(0, len(hist)-req.Retain):] {
			kept[b.Name] = true
		}
		var oldestKept time.Time
		if len(hist) >= req.Retain && req.Retain > 0 {
			oldestKept = hist[len(hist)-req.Retain].FinishTime
		}
		allowCount = func(b Backup) bool {
			if onHistory(b) {
				return !kept[b.Name]
			}
			return !oldestKept.IsZero() && b.FinishTime.Before(oldestKept)
		}
	}
	allowAge := func(b Backup) bool { return true }
	if req.RetainDays > 0 {
		now := req.Now
		if now.IsZero() {
			now = time.Now()
		}
		limit := now.Add(-time.Duration(req.RetainDays) * 24 * time.Hour)
		newestOlder := ""
		for _, b := range hist {
			if b.FinishTime.Before(limit) {
				newestOlder = b.Name // the last older one along the history: PITR to the limit
			}
		}
		allowAge = func(b Backup) bool { return b.FinishTime.Before(limit) && b.Name != newestOlder }
	}
	for _, b := range backups {
		if !b.IsPermanent && allowCount(b) && allowAge(b) {
			drop = append(drop, b)
		} else {
			keep = append(keep, b)
		}
	}
	return keep, drop, nil
}

// walCutoff is the lowest start segment of the kept backups: WAL from there on, on every
// timeline, is what they may need.
func walCutoff(keep []Backup) uint64 {
	cut := ^uint64(0)
	for _, b := range keep {
		cut = min(cut, b.StartSegment().SegNo)
	}
	return cut
}

// walObjectSegNo is the segment number a WAL folder object belongs to (segments, partial,
// backup history and WAL-G's per-segment side files); false for timeline history files and
// anything else, which delete never removes.
func walObjectSegNo(key string) (uint64, bool) {
	base := strings.TrimPrefix(key, WALFolder)
	if len(base) < 24 || wal.Classify(base) == wal.KindHistory {
		return 0, false
	}
	s, err := wal.ParseSegment(base[:24])
	if err != nil {
		return 0, false
	}
	if len(base) > 24 && !strings.ContainsAny(base[24:25], "._") {
		return 0, false
	}
	return s.SegNo, true
}

// PlanDelete works out a delete without changing anything. Retention follows the current
// timeline's history: after a restore into the same archive forked a new timeline, the old
// branch's backups (newer by WAL position, but not on the live history) never push the live
// timeline's backups or WAL out.
func (a *Archive) PlanDelete(ctx context.Context, req DeleteRequest) (DeletePlan, error) {
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return DeletePlan{}, err
	}
	if len(backups) == 0 {
		return DeletePlan{}, errors.New("delete: the archive has no complete backup; nothing would be restorable, so nothing is deleted")
	}
	w, err := a.scanWAL(ctx)
	if err != nil {
		return DeletePlan{}, fmt.Errorf("delete: %w", err)
	}
	tli := w.latestTLI()
	for _, b := range backups {
		tli = max(tli, b.Timeline)
	}
	tl, err := a.timeline(ctx, w, tli)
	if err != nil {
		a.logf("delete: %v; only backups on timeline %d count as its history", err, tli)
	}
	onHistory := func(b Backup) bool { return tl.Contains(b.Timeline, b.FinishLSN) }
	off := map[string]bool{}
	for _, b := range backups {
		if !onHistory(b) {
			off[b.Name] = true
		}
	}
	// Before NAME follows WAL positions as before; the policies order the history themselves.
	sort.SliceStable(backups, func(i, j int) bool { return backups[i].StartLSN < backups[j].StartLSN })
	keep, drop, err := selectRetained(backups, req, onHistory)
	if err != nil {
		return DeletePlan{}, err
	}
	plan := DeletePlan{Keep: keep, Drop: drop, WALCutoff: walCutoff(keep), Timeline: tli, OffHistory: off}
	dropped := map[string]bool{}
	for _, b := range drop {
		dropped[b.Name] = true
		plan.Objects = append(plan.Objects, sentinelKey(b.Name))
	}
	kept := map[string]bool{}
	for _, b := range keep {
		kept[b.Name] = true
	}
	objs, err := a.Store.List(ctx, BackupFolder)
	if err != nil {
		return DeletePlan{}, fmt.Errorf("delete: list backups: %w", err)
	}
	orphan := map[string]bool{} // folder -> has no sentinel
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Name, BackupFolder)
		folder, _, inFolder := strings.Cut(rest, "/")
		if !inFolder {
			continue
		}
		if dropped[folder] {
			plan.Objects = append(plan.Objects, o.Name)
			continue
		}
		// A folder without sentinel older than every kept backup is an abandoned attempt;
		// newer ones may be a backup in progress and stay.
		if s, err := ParseBackupName(folder); err == nil && !kept[folder] && s.SegNo < plan.WALCutoff {
			abandoned, seen := orphan[folder]
			if !seen {
				_, err := a.Store.Stat(ctx, sentinelKey(folder))
				abandoned = errors.Is(err, store.ErrNotFound)
				orphan[folder] = abandoned
			}
			if abandoned {
				plan.Objects = append(plan.Objects, o.Name)
			}
		}
	}
	for _, o := range w.objects {
		if n, ok := walObjectSegNo(o); ok && n < plan.WALCutoff {
			plan.Objects = append(plan.Objects, o)
		}
	}
	return plan, nil
}

// Delete applies (with req.Confirm) or only prints a delete plan. Sentinels go first, so a
// delete interrupted midway never leaves a listed backup without its data.
func (a *Archive) Delete(ctx context.Context, req DeleteRequest, out io.Writer) (DeletePlan, error) {
	plan, err := a.PlanDelete(ctx, req)
	if err != nil {
		return plan, err
	}
	verb := "would delete"
	if req.Confirm {
		verb = "deleting"
	}
	where := func(b Backup) string {
		if plan.OffHistory[b.Name] {
			return fmt.Sprintf(", off timeline %d's history", plan.Timeline)
		}
		return ""
	}
	for _, b := range plan.Keep {
		fmt.Fprintf(out, "keep   %s (finished %s%s)\n", b.Name, b.FinishTime.UTC().Format("2006-01-02 15:04:05"), where(b))
	}
	for _, b := range plan.Drop {
		fmt.Fprintf(out, "%s %s (finished %s%s)\n", verb, b.Name, b.FinishTime.UTC().Format("2006-01-02 15:04:05"), where(b))
	}
	walCount := 0
	for _, k := range plan.Objects {
		if strings.HasPrefix(k, WALFolder) {
			walCount++
		}
	}
	fmt.Fprintf(out, "%s %d objects, %d of them WAL older than the oldest kept backup's start (segment number %X on any timeline)\n",
		verb, len(plan.Objects), walCount, plan.WALCutoff)
	if !req.Confirm {
		fmt.Fprintln(out, "dry run: add --confirm to delete")
		return plan, nil
	}
	const batch = 500
	for i := 0; i < len(plan.Objects); i += batch {
		if err := a.Store.Delete(ctx, plan.Objects[i:min(i+batch, len(plan.Objects))]...); err != nil {
			return plan, fmt.Errorf("delete: %w", err)
		}
	}
	return plan, nil
}
