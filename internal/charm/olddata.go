package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Data directories moved aside (a restore, a clone replacing a diverged standby) are kept,
// the newest of each kind only, until a base backup newer than them has completed: until then
// they may be the only copy of what they hold. The status names them and their size; the
// remove-old-data action deletes them at once.

// stateOldDataSizes caches the size of each kept copy (path -> bytes), measured once.
const stateOldDataSizes = "old-data-sizes"

// observeOldData lists the kept copies with their sizes (measured once, then cached in
// the unit's state) and the newest backup that could supersede them.
func observeOldData(ctx context.Context, o *plan.Observed, m *means) error {
	o.OldData, o.NewestBackup, m.oldDataSizes = nil, time.Time{}, ""
	if m.local == nil || m.local.DataDir == "" {
		return nil
	}
	list, err := postgres.ListMovedAside(m.local.DataDir)
	if err != nil || len(list) == 0 {
		return err
	}
	sizes := map[string]int64{}
	if v, err := goops.GetState(stateOldDataSizes); err == nil && v != "" {
		_ = json.Unmarshal([]byte(v), &sizes)
	}
	now := map[string]int64{}
	for _, m := range list {
		n, ok := sizes[m.Path]
		if !ok {
			if n, err = postgres.DirSize(m.Path); err != nil {
				return err
			}
		}
		now[m.Path] = n
		o.OldData = append(o.OldData, plan.OldCopy{Path: m.Path, Time: m.Time, Bytes: n})
	}
	if b, _ := json.Marshal(now); string(b) != mustJSON(sizes) {
		m.oldDataSizes = string(b)
	}
	if o.Archive.URI != "" && o.Archive.Problem == "" {
		o.NewestBackup = newestBackup(ctx, m.config, o.Local.SystemID)
	}
	return nil
}

// oldData deletes the copies a later completed base backup supersedes (plan.DecideOldData)
// and keeps the record of the sizes of the rest.
func (r *applying) oldData(p plan.OldDataPlan) error {
	for _, path := range p.Remove {
		goops.LogInfof("removing %s: a later base backup supersedes it", path)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove old data %s: %w", path, err)
		}
	}
	if v := r.oldDataSizes; v != "" {
		return goops.SetState(stateOldDataSizes, v)
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// newestBackup is the finish time of the newest complete base backup of the database
// sysid in the unit's archive (zero when the archive cannot be read: nothing is removed).
func newestBackup(ctx context.Context, cfg Config, sysid string) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := archive.Open(ctx, archiveConfig(cfg, cfg.WalEStorageURI), "")
	if err != nil {
		return time.Time{}
	}
	list, err := a.ListBackups(ctx)
	if err != nil || len(list) == 0 {
		return time.Time{}
	}
	ours, _ := strconv.ParseUint(sysid, 10, 64)
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
	return newest
}
