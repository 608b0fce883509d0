package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// DeleteRequest selects what delete removes: Retain keeps the newest N backups, Before keeps
// the named backup and everything newer. Without Confirm nothing is deleted (dry run).
type DeleteRequest struct {
	Retain  int
	Before  string
	Confirm bool
}

// DeletePlan is what a delete removes or would remove.
type DeletePlan struct {
	Keep    []Backup
	Drop    []Backup
	Objects []string // every object key to delete, sentinels first
	// WALCutoff: WAL segments numbered below it (on any timeline) go; the oldest kept
	// backup starts at it.
	WALCutoff uint64
}

// SelectRetained splits backups (in ListBackups order, oldest first) into kept and dropped.
// Permanent backups are always kept; retain counts the newest backups, permanent or not.
func SelectRetained(backups []Backup, req DeleteRequest) (keep, drop []Backup, err error) {
	switch {
	case req.Retain > 0 && req.Before != "":
		return nil, nil, errors.New("delete: give either retain N or before NAME, not both")
	case req.Retain > 0:
		cut := max(0, len(backups)-req.Retain)
		for i, b := range backups {
			if i >= cut || b.IsPermanent {
				keep = append(keep, b)
			} else {
				drop = append(drop, b)
			}
		}
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
	default:
		return nil, nil, errors.New("delete: retain must be at least 1 (or give before NAME)")
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
	if len(base) < 24 || ClassifyWAL(base) == KindHistory {
		return 0, false
	}
	s, err := ParseSegment(base[:24])
	if err != nil {
		return 0, false
	}
	if len(base) > 24 && !strings.ContainsAny(base[24:25], "._") {
		return 0, false
	}
	return s.SegNo, true
}

// PlanDelete works out a delete without changing anything.
func (a *Archive) PlanDelete(ctx context.Context, req DeleteRequest) (DeletePlan, error) {
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return DeletePlan{}, err
	}
	if len(backups) == 0 {
		return DeletePlan{}, errors.New("delete: the archive has no complete backup; nothing would be restorable, so nothing is deleted")
	}
	// Retention follows WAL positions, not upload times, so order by start LSN here.
	sort.SliceStable(backups, func(i, j int) bool { return backups[i].StartLSN < backups[j].StartLSN })
	keep, drop, err := SelectRetained(backups, req)
	if err != nil {
		return DeletePlan{}, err
	}
	plan := DeletePlan{Keep: keep, Drop: drop, WALCutoff: walCutoff(keep)}
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
	wal, err := a.Store.List(ctx, WALFolder)
	if err != nil {
		return DeletePlan{}, fmt.Errorf("delete: list WAL: %w", err)
	}
	for _, o := range wal {
		if n, ok := walObjectSegNo(o.Name); ok && n < plan.WALCutoff {
			plan.Objects = append(plan.Objects, o.Name)
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
	for _, b := range plan.Keep {
		fmt.Fprintf(out, "keep   %s (finished %s)\n", b.Name, b.FinishTime.UTC().Format("2006-01-02 15:04:05"))
	}
	for _, b := range plan.Drop {
		fmt.Fprintf(out, "%s %s (finished %s)\n", verb, b.Name, b.FinishTime.UTC().Format("2006-01-02 15:04:05"))
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
