package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// ErrWALNotFound is wrapped when the archive has no such WAL file; restore_command must then
// exit with a code of its own, since PostgreSQL ends recovery on a missing file.
var ErrWALNotFound = errors.New("WAL file not in archive")

// FetchOptions tune WALFetch.
type FetchOptions struct {
	// PrefetchDir holds segments fetched ahead; default DEST's directory + /.wal-g/prefetch
	// (WAL-G's place, so either tool finds the other's).
	PrefetchDir string
	// StartPrefetch, when set, is called after a segment was served to fetch the following
	// ones in the background (the CLI starts a detached process; the call must not block).
	StartPrefetch func(name, prefetchDir string)
}

// DefaultPrefetchDir is where prefetched segments for the destination path go.
func DefaultPrefetchDir(dest string) string {
	return filepath.Join(filepath.Dir(dest), ".wal-g", "prefetch")
}

// WALFetch writes the archived WAL file name to dest (restore_command's %f and %p), from the
// prefetch directory when a complete copy waits there. Only a complete, checked file ever
// appears at dest.
func (a *Archive) WALFetch(ctx context.Context, name, dest string, opt FetchOptions) error {
	kind := wal.Classify(name)
	if kind == wal.KindOther {
		return fmt.Errorf("wal-fetch: %q is not a WAL file name", name)
	}
	if opt.PrefetchDir == "" {
		opt.PrefetchDir = DefaultPrefetchDir(dest)
	}
	served := false
	if kind == wal.KindSegment {
		seg, _ := wal.ParseSegment(name)
		waitRunning(filepath.Join(opt.PrefetchDir, "running", name))
		p := filepath.Join(opt.PrefetchDir, name)
		if err := checkSegmentFile(seg, p); err == nil {
			if err := os.Rename(p, dest); err == nil {
				served = true
				a.logf("wal-fetch %s: from prefetch", name)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			a.logf("wal-fetch %s: dropping bad prefetched copy: %v", name, err)
			os.Remove(p)
		}
		// The next segments download while this one does, then while it replays.
		if opt.StartPrefetch != nil {
			opt.StartPrefetch(name, opt.PrefetchDir)
		}
	}
	if !served {
		if err := a.fetchTo(ctx, name, dest); err != nil {
			return fmt.Errorf("wal-fetch %s: %w", name, err)
		}
	}
	return nil
}

// RestoreCommand is the restore_command that fetches WAL with this binary and configuration,
// from the archive uri when set (else the configuration's).
//
// Recovery runs restore_command through the shell once per file and replays nothing while it
// runs. A segment the background prefetch has already downloaded and checked is moved into
// place by the shell itself, which costs a few milliseconds; the binary, tens of milliseconds
// to start, runs only for the rest and starts the next prefetch.
func RestoreCommand(binary, configPath, uri string) string {
	if configPath == "" {
		configPath = DefaultConfigPath
	}
	cmd := shellQuote(binary) + " wal-fetch --config " + shellQuote(configPath)
	if uri != "" {
		cmd += " --uri " + shellQuote(uri)
	}
	// PostgreSQL passes %p as pg_wal/RECOVERYXLOG (or RECOVERYHISTORY), relative to the data
	// directory, so the prefetch directory wal-fetch uses for it is this one.
	prefetched := DefaultPrefetchDir("pg_wal/%p") + "/%f"
	return `mv -f "` + prefetched + `" "%p" 2>/dev/null || exec ` + cmd + ` "%f" "%p"`
}

// waitRunning waits while a prefetch of the file is making progress, giving up after 200 ms
// without growth (as WAL-G).
func waitRunning(p string) {
	var last int64 = -1
	stalled := time.Now()
	for {
		st, err := os.Stat(p)
		if err != nil {
			return
		}
		if st.Size() != last {
			last, stalled = st.Size(), time.Now()
		} else if time.Since(stalled) > 200*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetchTo downloads and decompresses name into dest through a temporary file, checking
// segments before they become visible.
func (a *Archive) fetchTo(ctx context.Context, name, dest string) error {
	objs, err := a.findWALToRead(ctx, name)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("%s: %w", name, ErrWALNotFound)
	}
	key := preferredObject(objs)
	tmp := dest + ".pgcharm-tmp"
	if err := a.download(ctx, key, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if seg, err := wal.ParseSegment(name); err == nil {
		if err := checkSegmentFile(seg, tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("archived %s is damaged: %w", key, err)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// preferredObject picks the object to read when a file is archived in several compressions.
func preferredObject(objs []store.Object) string {
	for _, ext := range readExts {
		for _, o := range objs {
			if _, e := SplitExt(o.Name[len(WALFolder):]); e == ext {
				return o.Name
			}
		}
	}
	return objs[0].Name
}

// download writes the decompressed object key to path.
func (a *Archive) download(ctx context.Context, key, path string) error {
	rc, err := a.getDecompressed(ctx, key)
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("download %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	return nil
}

// checkSegmentFile checks size and header of a segment file on disk.
func checkSegmentFile(seg wal.Segment, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, walLongHeaderLen)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("segment %s: %w", seg, err)
	}
	return checkSegmentHead(seg, head, st.Size())
}

// WALPrefetch downloads the count segments after name into dir (complete files only; partial
// downloads live in dir/running) and drops prefetched segments older than name. Missing
// segments end the prefetch quietly: they are simply not archived yet.
func (a *Archive) WALPrefetch(ctx context.Context, name, dir string, count int) error {
	seg, err := wal.ParseSegment(name)
	if err != nil {
		return fmt.Errorf("wal-prefetch: %w", err)
	}
	running := filepath.Join(dir, "running")
	if err := os.MkdirAll(running, 0o700); err != nil {
		return fmt.Errorf("wal-prefetch: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if old, err := wal.ParseSegment(e.Name()); err == nil && !seg.Less(old) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, min(count, a.Concurrency)))
	next := seg
	for range count {
		next = next.Next()
		n := next
		final := filepath.Join(dir, n.Name())
		if _, err := os.Stat(final); err == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := a.prefetchOne(ctx, n, running, final); err != nil && !errors.Is(err, ErrWALNotFound) {
				a.logf("wal-prefetch %s: %v", n, err)
			}
		}()
	}
	wg.Wait()
	return nil
}

func (a *Archive) prefetchOne(ctx context.Context, seg wal.Segment, running, final string) error {
	tmp := filepath.Join(running, seg.Name())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		// Another prefetcher has it, unless that one died long ago.
		if st, serr := os.Stat(tmp); serr == nil && time.Since(st.ModTime()) > time.Minute {
			os.Remove(tmp)
		}
		return nil
	}
	f.Close()
	objs, err := a.findWALToRead(ctx, seg.Name())
	if err == nil && len(objs) == 0 {
		err = ErrWALNotFound
	}
	if err == nil {
		err = a.download(ctx, preferredObject(objs), tmp)
	}
	if err == nil {
		err = checkSegmentFile(seg, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
