package archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// archiveWAL is what the WAL folder holds, by kind.
type archiveWAL struct {
	segments  map[wal.Segment]bool
	modified  map[wal.Segment]time.Time // store time of each segment's newest object
	histories map[uint32]string         // timeline -> object key
	objects   []string                  // every key in the folder
}

// scanWAL lists the WAL folder once.
func (a *Archive) scanWAL(ctx context.Context) (archiveWAL, error) {
	objs, err := a.listFallback(ctx, WALFolder, func(objs []store.Object) bool { return len(objs) > 0 })
	if err != nil {
		return archiveWAL{}, fmt.Errorf("list %s: %w", WALFolder, err)
	}
	w := archiveWAL{segments: map[wal.Segment]bool{}, histories: map[uint32]string{}, modified: map[wal.Segment]time.Time{}}
	for _, o := range objs {
		w.objects = append(w.objects, o.Name)
		name, ext := SplitExt(strings.TrimPrefix(o.Name, WALFolder))
		if ext != "" && !knownExts[ext] {
			continue
		}
		switch wal.Classify(name) {
		case wal.KindSegment:
			s, _ := wal.ParseSegment(name)
			w.segments[s] = true
			if o.Modified.After(w.modified[s]) {
				w.modified[s] = o.Modified
			}
		case wal.KindHistory:
			var tli uint32
			fmt.Sscanf(name[:8], "%08X", &tli)
			w.histories[tli] = o.Name
		}
	}
	return w, nil
}

// latestTLI is the newest timeline the archive knows of (history files or segments).
func (w archiveWAL) latestTLI() uint32 {
	tli := uint32(1)
	for t := range w.histories {
		tli = max(tli, t)
	}
	for s := range w.segments {
		tli = max(tli, s.TLI)
	}
	return tli
}

// timeline reads the ancestry of tli from its history file (none for timeline 1 or when the
// file is missing, which the caller reports).
func (a *Archive) timeline(ctx context.Context, w archiveWAL, tli uint32) (wal.Timeline, error) {
	t := wal.Timeline{TLI: tli}
	key, ok := w.histories[tli]
	if !ok {
		if tli > 1 {
			return t, fmt.Errorf("timeline %d has no history file %s in the archive", tli, wal.HistoryFileName(tli))
		}
		return t, nil
	}
	rc, err := a.getDecompressed(ctx, key)
	if err != nil {
		return t, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	h, err := wal.ParseHistory(rc)
	if err != nil {
		return t, fmt.Errorf("%s: %w", key, err)
	}
	t.History = h
	return t, nil
}
