package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// BackupFetchOptions tune BackupFetch.
type BackupFetchOptions struct {
	// Progress receives progress lines; nil discards.
	Progress io.Writer
	// ProgressInterval is the time between progress lines (default 5 s).
	ProgressInterval time.Duration
	// Streams is the number of parts downloaded and extracted at once (default CPU count, at
	// least 2, at most the configured concurrency).
	Streams int
	// Owner, when set, is given every extracted file (the charm runs as root; PostgreSQL
	// needs to own its data directory).
	Owner *FileOwner
	// Tablespaces moves tablespaces (by OID) to new empty directories instead of the
	// locations recorded in the backup, e.g. to restore beside the original server.
	Tablespaces map[string]string
}

// FileOwner is a numeric owner for extracted files.
type FileOwner struct{ UID, GID int }

// BackupFetch restores backup name (or LATEST) into dir, which must be empty or absent. Parts
// are extracted in parallel; pg_control and backup_label come last, so a directory left by an
// interrupted fetch never starts as if complete (it has no pg_control).
func (a *Archive) BackupFetch(ctx context.Context, name, dir string, opt BackupFetchOptions) (Backup, error) {
	b, err := a.FindBackup(ctx, name)
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch: %w", err)
	}
	if b.IsDelta {
		return Backup{}, fmt.Errorf("backup-fetch %s: WAL-G delta backups are not supported; restore a full backup", b.Name)
	}
	if opt.Streams <= 0 {
		opt.Streams = max(2, min(runtime.NumCPU(), a.Concurrency))
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = 5 * time.Second
	}
	progress := opt.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := prepareEmptyDir(dir); err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	if err := opt.Owner.apply(dir); err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	parts, control, label, err := a.backupParts(ctx, b.Name)
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	if b.Sentinel.Spec != nil {
		if err := makeTablespaces(dir, b.Sentinel.Spec, opt.Owner, opt.Tablespaces); err != nil {
			return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
		}
	}
	fmt.Fprintf(progress, "backup-fetch %s: %d parts into %s\n", b.Name, len(parts), dir)
	x := &extractor{dir: dir, owner: opt.Owner, relocate: opt.Tablespaces}
	start := time.Now()
	stop := x.reportProgress(progress, b.Name, opt.ProgressInterval)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Streams)
	for _, p := range parts {
		g.Go(func() error { return a.extractPart(gctx, p, x) })
	}
	err = g.Wait()
	// The control file and the label last, one after the other (WAL-G's order), so that the
	// directory only looks like a data directory once everything else is in place.
	for _, p := range []string{control, label} {
		if err == nil && p != "" {
			err = a.extractPart(ctx, p, x)
		}
	}
	stop()
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	for d := range excludedDirs {
		if d == "log" || d == "pg_log" || d == "pg_xlog" {
			continue
		}
		if err := x.mkdir(filepath.Join(dir, d)); err != nil {
			return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
		}
	}
	if err := x.mkdir(filepath.Join(dir, "pg_wal", "archive_status")); err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	fmt.Fprintf(progress, "backup-fetch %s: done, %s in %.1fs, %s/s\n", b.Name, humanBytes(x.bytes.Load()), secs,
		humanBytes(int64(float64(x.bytes.Load())/secs)))
	return b, nil
}

func (o *FileOwner) apply(p string) error {
	if o == nil {
		return nil
	}
	return os.Lchown(p, o.UID, o.GID)
}

// prepareEmptyDir creates dir (0700) or checks that it is empty, apart from a file system's
// lost+found.
func prepareEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "lost+found" {
			return fmt.Errorf("%s is not empty (holds %s): refusing to restore over existing files", dir, e.Name())
		}
	}
	return os.Chmod(dir, 0o700)
}

// makeTablespaces recreates each tablespace's directory at its recorded location and the
// symlink to it, as WAL-G does; the location must be empty so that no live tablespace is hit.
func makeTablespaces(dir string, spec *TablespaceSpec, owner *FileOwner, relocate map[string]string) error {
	for oid := range relocate {
		if _, ok := spec.Tablespaces[oid]; !ok {
			return fmt.Errorf("tablespace %s to relocate is not in the backup", oid)
		}
	}
	for oid, loc := range spec.Tablespaces {
		if to, ok := relocate[oid]; ok {
			loc.Location = to
		}
		if loc.Location == "" {
			continue
		}
		if err := prepareEmptyDir(loc.Location); err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
		if err := owner.apply(loc.Location); err != nil {
			return err
		}
		link := filepath.Join(dir, "pg_tblspc", oid)
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			return err
		}
		if err := os.Symlink(strings.TrimSuffix(loc.Location, "/"), link); err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
		if err := owner.apply(link); err != nil {
			return err
		}
	}
	return nil
}

// backupParts finds a backup's tar parts. When files_metadata.json names them, only those are
// used, so leftovers of an interrupted earlier attempt under the same name are never mixed in.
func (a *Archive) backupParts(ctx context.Context, name string) (parts []string, control, label string, err error) {
	folder := BackupFolder + name + "/" + TarPartitions
	objs, err := a.Store.List(ctx, folder)
	if err != nil {
		return nil, "", "", fmt.Errorf("list parts: %w", err)
	}
	found := map[string]string{}
	for _, o := range objs {
		base := strings.TrimPrefix(o.Name, folder)
		plain, _ := SplitExt(base)
		switch {
		case plain == "pg_control.tar":
			control = o.Name
		case plain == "backup_label.tar":
			label = o.Name
		case strings.HasPrefix(plain, "part_") && strings.HasSuffix(plain, ".tar"):
			found[base] = o.Name
		}
	}
	var fm FilesMetadata
	if err := a.readJSON(ctx, BackupFolder+name+"/"+FilesMetadataFile, &fm); err == nil && len(fm.TarFileSets) > 0 {
		listed := []string{}
		complete := true
		for tarName := range fm.TarFileSets {
			if strings.HasPrefix(tarName, "part_") {
				if key, ok := found[tarName]; ok {
					listed = append(listed, key)
				} else {
					complete = false
				}
			}
		}
		if complete {
			sort.Strings(listed)
			return listed, control, label, nil
		}
	}
	for _, key := range found {
		parts = append(parts, key)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return nil, "", "", fmt.Errorf("no tar parts under %s", folder)
	}
	return parts, control, label, nil
}

type extractor struct {
	dir      string
	owner    *FileOwner
	relocate map[string]string // tablespace OID -> new location, applied to tablespace_map
	bytes    atomic.Int64
	parts    atomic.Int32
}

func (x *extractor) reportProgress(w io.Writer, name string, every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		start, last, lastT := time.Now(), int64(0), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := x.bytes.Load()
				fmt.Fprintf(w, "backup-fetch %s: %s written, %d parts done, %s/s (elapsed %s)\n", name, humanBytes(n),
					x.parts.Load(), humanBytes(int64(float64(n-last)/now.Sub(lastT).Seconds())), now.Sub(start).Round(time.Second))
				last, lastT = n, now
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (x *extractor) mkdir(p string) error {
	if err := os.MkdirAll(p, 0o700); err != nil {
		return err
	}
	return x.owner.apply(p)
}

// target maps a tar member name to a path under dir, refusing names that would escape it.
func (x *extractor) target(member string) (string, error) {
	clean := path.Clean("/" + member)
	if clean == "/" {
		return "", fmt.Errorf("tar member %q names the data directory itself", member)
	}
	return filepath.Join(x.dir, filepath.FromSlash(clean[1:])), nil
}

func (a *Archive) extractPart(ctx context.Context, key string, x *extractor) error {
	rc, err := a.getDecompressed(ctx, key)
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		p, err := x.target(hdr.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if err := x.extractOne(tr, hdr, p); err != nil {
			return fmt.Errorf("%s: extract %s: %w", key, hdr.Name, err)
		}
	}
	// Drain trailing padding so the decompressor verifies the frame's checksum.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	x.parts.Add(1)
	return nil
}

func (x *extractor) extractOne(r io.Reader, hdr *tar.Header, p string) error {
	mode := os.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(p, mode|0o700); err != nil {
			return err
		}
		return x.owner.apply(p)
	case tar.TypeSymlink:
		if err := x.mkdir(filepath.Dir(p)); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
		return x.owner.apply(p)
	case tar.TypeReg:
		if err := x.mkdir(filepath.Dir(p)); err != nil {
			return err
		}
		if hdr.Name == "tablespace_map" && len(x.relocate) > 0 {
			// PostgreSQL recreates the pg_tblspc links from this file when recovery starts.
			b, err := io.ReadAll(io.LimitReader(r, 1<<20))
			if err != nil {
				return err
			}
			r = strings.NewReader(relocateMap(string(b), x.relocate))
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, r)
		x.bytes.Add(n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := x.owner.apply(p); err != nil {
			return err
		}
		if !hdr.ModTime.IsZero() {
			os.Chtimes(p, hdr.ModTime, hdr.ModTime)
		}
		return nil
	}
	return nil // other member types have no place in a data directory
}

// relocateMap rewrites the "OID PATH" lines of a tablespace_map for moved tablespaces.
func relocateMap(m string, relocate map[string]string) string {
	lines := strings.Split(m, "\n")
	for i, l := range lines {
		oid, _, ok := strings.Cut(l, " ")
		if to, moved := relocate[oid]; ok && moved {
			lines[i] = oid + " " + strings.TrimSuffix(to, "/")
		}
	}
	return strings.Join(lines, "\n")
}
