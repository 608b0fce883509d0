package charm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Data directories moved aside (a restore, a clone replacing a diverged standby) are kept,
// the newest of each kind only, until a base backup newer than them has completed: until then
// they may be the only copy of what they hold. The status names them and their size; the
// remove-old-data action deletes them at once.

// stateOldDataSizes caches the size of each kept copy (path -> bytes), measured once.
const stateOldDataSizes = "old-data-sizes"

// oldData deletes the copies a later completed base backup supersedes and says in the
// status what is left.
func (r *hookRun) oldData() error {
	if r.local == nil || r.local.DataDir == "" {
		return nil
	}
	list, err := postgres.ListMovedAside(r.local.DataDir)
	if err != nil || len(list) == 0 {
		return err
	}
	if newest, ok := r.newestBackup(); ok {
		var kept []postgres.MovedAside
		for _, m := range list {
			if newest.After(m.Time) {
				goops.LogInfof("removing %s: base backup of %s supersedes it", m.Path, newest.UTC().Format(time.RFC3339))
				if err := os.RemoveAll(m.Path); err != nil {
					return fmt.Errorf("remove old data %s: %w", m.Path, err)
				}
				continue
			}
			kept = append(kept, m)
		}
		list = kept
	}
	sizes := map[string]int64{}
	if v, err := goops.GetState(stateOldDataSizes); err == nil && v != "" {
		_ = json.Unmarshal([]byte(v), &sizes)
	}
	now := map[string]int64{}
	var parts []string
	for _, m := range list {
		n, ok := sizes[m.Path]
		if !ok {
			if n, err = postgres.DirSize(m.Path); err != nil {
				return err
			}
		}
		now[m.Path] = n
		parts = append(parts, fmt.Sprintf("%s (%s)", m.Path, humanSize(n)))
	}
	if b, _ := json.Marshal(now); string(b) != mustJSON(sizes) {
		if err := goops.SetState(stateOldDataSizes, string(b)); err != nil {
			return err
		}
	}
	if len(parts) > 0 {
		r.why.OldData = "old data kept until the next base backup: " + strings.Join(parts, ", ")
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// newestBackup is the finish time of the newest complete base backup in the unit's own
// archive (false when archiving is off or the archive cannot be read: nothing is removed).
func (r *hookRun) newestBackup() (time.Time, bool) {
	if !r.archive.Enabled || r.j.Config.WalEStorageURI == "" {
		return time.Time{}, false
	}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	a, err := archive.Open(ctx, archiveConfig(r.j.Config, r.j.Config.WalEStorageURI), "")
	if err != nil {
		return time.Time{}, false
	}
	list, err := a.ListBackups(ctx)
	if err != nil || len(list) == 0 {
		return time.Time{}, false
	}
	ours, _ := strconv.ParseUint(r.local.planLocal("", "", "").SystemID, 10, 64)
	var newest time.Time
	for _, b := range list {
		// Only a backup of this unit's database supersedes a copy.
		if ours == 0 || (b.SystemIdentifier != 0 && b.SystemIdentifier != ours) {
			continue
		}
		if b.FinishTime.After(newest) {
			newest = b.FinishTime
		}
	}
	return newest, !newest.IsZero()
}

// removeOldData deletes every kept copy on this unit now.
func removeOldData(ctx context.Context) error {
	var p struct {
		Confirm bool `json:"confirm"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	version, _, err := installedVersion(ctx, j.Config)
	if err != nil {
		return err
	}
	l, err := observeLocal(ctx, version, j.Storage)
	if err != nil {
		return err
	}
	list, err := postgres.ListMovedAside(l.DataDir)
	if err != nil {
		return err
	}
	var paths []string
	var total int64
	for _, m := range list {
		n, _ := postgres.DirSize(m.Path)
		total += n
		paths = append(paths, m.Path)
	}
	res := map[string]string{"old-data": strings.Join(paths, " "), "bytes": strconv.FormatInt(total, 10)}
	if len(paths) == 0 {
		res["old-data"] = "none"
		return goops.SetActionResults(res)
	}
	if !p.Confirm {
		_ = goops.SetActionResults(res)
		return errors.New("not confirmed: this would delete " + strings.Join(paths, ", ") + "; run again with confirm=true")
	}
	for _, m := range paths {
		_ = goops.ActionLogf("removing %s", m)
		if err := os.RemoveAll(m); err != nil {
			return fmt.Errorf("remove %s: %w", m, err)
		}
	}
	res["removed"] = "true"
	_ = goops.SetState(stateOldDataSizes, "")
	return goops.SetActionResults(res)
}

// humanSize is a size for status messages.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
