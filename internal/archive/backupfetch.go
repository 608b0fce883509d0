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
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/pgcharm/postgresql/internal/safefs"
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
	// Owner, when set, is given every extracted file (when root extracts; PostgreSQL needs to
	// own its data directory). Extracting as postgres needs none.
	Owner *FileOwner
	// PgMajor, when set, is the major version of the server that will run the restored
	// directory: a backup of another major version is refused before anything is written.
	PgMajor int
	// Tablespaces moves tablespaces (by OID) to new empty directories instead of the
	// locations recorded in the backup, e.g. to restore beside the original server.
	Tablespaces map[string]string
	// TablespaceRoot is where the locations recorded in the backup are accepted (the storage);
	// a tablespace recorded elsewhere needs a mapping in Tablespaces. Empty: every tablespace
	// needs one. The archive is not trusted to name places on the machine.
	TablespaceRoot string
}

// FileOwner is a numeric owner for extracted files.
type FileOwner struct{ UID, GID int }

func (o *FileOwner) safe() *safefs.Owner {
	if o == nil {
		return nil
	}
	return &safefs.Owner{UID: o.UID, GID: o.GID}
}

// BackupFetch restores backup name (or LATEST) into dir, which must be empty or absent. Parts
// are extracted in parallel; pg_control and backup_label come last, so a directory left by an
// interrupted fetch never starts as if complete (it has no pg_control).
//
// Nothing is written outside dir and the tablespace locations allowed by opt: every file is
// created relative to an open directory with no symbolic link followed on the way (see
// safefs), links in the archive are created as data and never traversed, and member names,
// with or without WAL-G 3's leading "/", are relative to dir.
func (a *Archive) BackupFetch(ctx context.Context, name, dir string, opt BackupFetchOptions) (Backup, error) {
	b, err := a.FindBackup(ctx, name)
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch: %w", err)
	}
	if err := CheckRestorable(b, opt.PgMajor); err != nil {
		return Backup{}, fmt.Errorf("backup-fetch: %w", err)
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
	root, err := openEmptyDir(dir, opt.Owner)
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	defer root.Close()
	parts, control, label, err := a.backupParts(ctx, b.Name)
	if err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	x := &extractor{root: root, owner: opt.Owner.safe(), tablespaces: map[string]*safefs.Dir{}, locations: map[string]string{}}
	defer x.closeTablespaces()
	if b.Sentinel.Spec != nil || len(opt.Tablespaces) > 0 {
		if err := x.makeTablespaces(b.Sentinel.Spec, opt); err != nil {
			return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
		}
	}
	fmt.Fprintf(progress, "backup-fetch %s: %d parts into %s\n", b.Name, len(parts), dir)
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
		if err := x.mkdir(d); err != nil {
			return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
		}
	}
	if err := x.mkdir("pg_wal/archive_status"); err != nil {
		return Backup{}, fmt.Errorf("backup-fetch %s: %w", b.Name, err)
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	fmt.Fprintf(progress, "backup-fetch %s: done, %s in %.1fs, %s/s\n", b.Name, humanBytes(x.bytes.Load()), secs,
		humanBytes(int64(float64(x.bytes.Load())/secs)))
	if b.SystemIdentifier == 0 {
		b.SystemIdentifier = systemIDFromControl(dir) // WAL-E records none
	}
	return b, nil
}

// openEmptyDir creates dir (0700) or checks that it is an empty directory (apart from a file
// system's lost+found) and not a link, and opens it.
func openEmptyDir(dir string, owner *FileOwner) (*safefs.Dir, error) {
	if err := safefs.CheckPath(filepath.Clean(dir)); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	d, err := safefs.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.ReadDirNames()
	if err == nil {
		for _, n := range names {
			if n != "lost+found" {
				err = fmt.Errorf("%s is not empty (holds %s): refusing to restore over existing files", dir, n)
				break
			}
		}
	}
	if err == nil {
		err = d.Chmod(0o700)
	}
	if err == nil {
		err = d.Chown(owner.safe())
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

var oidRE = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)

// makeTablespaces opens each tablespace's location, empty, and links pg_tblspc/OID to it, as
// WAL-G does. A location is accepted when the operator mapped it (opt.Tablespaces) or when the
// backup recorded it beneath opt.TablespaceRoot; it is then created beneath that root with no
// link followed. Files of the tablespace are then extracted through the open location, never
// through the link.
func (x *extractor) makeTablespaces(spec *TablespaceSpec, opt BackupFetchOptions) error {
	recorded := map[string]TablespaceLocation{}
	if spec != nil {
		recorded = spec.Tablespaces
	}
	for oid := range opt.Tablespaces {
		if _, ok := recorded[oid]; !ok {
			return fmt.Errorf("tablespace %s to relocate is not in the backup", oid)
		}
	}
	oids := make([]string, 0, len(recorded))
	for oid := range recorded {
		oids = append(oids, oid)
	}
	sort.Strings(oids)
	for _, oid := range oids {
		if !oidRE.MatchString(oid) {
			return fmt.Errorf("tablespace %q: not an OID", oid)
		}
		loc, err := x.openTablespace(oid, recorded[oid].Location, opt)
		if err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
		x.tablespaces[oid] = loc
		x.locations[oid] = loc.Name()
		if err := x.root.Symlink(loc.Name(), "pg_tblspc/"+oid, x.owner); err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
	}
	return nil
}

func (x *extractor) openTablespace(oid, recorded string, opt BackupFetchOptions) (*safefs.Dir, error) {
	var d *safefs.Dir
	var err error
	if to, ok := opt.Tablespaces[oid]; ok {
		to = strings.TrimSuffix(to, "/")
		if err := safefs.CheckPath(to); err != nil {
			return nil, err
		}
		d, err = safefs.MkdirAllOpen(to, 0o700)
	} else {
		loc := strings.TrimSuffix(recorded, "/")
		rootDir := filepath.Clean(opt.TablespaceRoot)
		if loc == "" {
			return nil, errors.New("the backup records no location")
		}
		if cerr := safefs.CheckPath(loc); cerr != nil || opt.TablespaceRoot == "" || !safefs.Within(loc, rootDir) || loc == rootDir {
			where := "no place for the backup's own locations was allowed"
			if opt.TablespaceRoot != "" {
				where = "it is not beneath " + rootDir
			}
			return nil, fmt.Errorf("the backup records location %q, but %s; map it to an empty directory (--tablespace %s=DIR)",
				recorded, where, oid)
		}
		r, err := safefs.OpenDir(rootDir)
		if err != nil {
			return nil, err
		}
		d, err = r.MkdirAll(strings.TrimPrefix(loc, rootDir+"/"), 0o700, x.owner)
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	names, err := d.ReadDirNames()
	if err == nil && len(names) > 0 && !(len(names) == 1 && names[0] == "lost+found") {
		err = fmt.Errorf("%s is not empty (holds %s): refusing to restore over existing files", d.Name(), names[0])
	}
	if err == nil {
		err = d.Chmod(0o700)
	}
	if err == nil {
		err = d.Chown(x.owner)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (x *extractor) closeTablespaces() {
	for _, d := range x.tablespaces {
		d.Close()
	}
}

// backupParts finds a backup's tar parts. When files_metadata.json names them, only those are
// used, so leftovers of an interrupted earlier attempt under the same name are never mixed in.
func (a *Archive) backupParts(ctx context.Context, name string) (parts []string, control, label string, err error) {
	folder := BackupFolder + name + "/" + TarPartitions
	objs, err := a.src().List(ctx, folder)
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
	root        *safefs.Dir
	owner       *safefs.Owner
	tablespaces map[string]*safefs.Dir // OID -> open location
	locations   map[string]string      // OID -> location path, written into tablespace_map
	bytes       atomic.Int64
	parts       atomic.Int32
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

func (x *extractor) mkdir(rel string) error {
	d, err := x.root.MkdirAll(rel, 0o700, x.owner)
	if err != nil {
		return err
	}
	return d.Close()
}

// target maps a tar member name to the directory it is extracted in and its name there.
// Names are relative to the data directory whether or not they start with "/" (WAL-G 3 writes
// "/", "/PG_VERSION", "/base/1/112"); ".." cannot climb above it. Files of a tablespace
// (pg_tblspc/OID/...) go to its open location; "" means the member names the data directory
// or a tablespace link itself, which are already made.
func (x *extractor) target(member string) (*safefs.Dir, string) {
	clean := path.Clean("/" + member)[1:]
	if rest, ok := strings.CutPrefix(clean, "pg_tblspc/"); ok {
		oid, inside, _ := strings.Cut(rest, "/")
		if d, known := x.tablespaces[oid]; known {
			return d, inside
		}
	}
	return x.root, clean
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
		d, rel := x.target(hdr.Name)
		if err := x.extractOne(tr, hdr, d, rel); err != nil {
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

func (x *extractor) extractOne(r io.Reader, hdr *tar.Header, d *safefs.Dir, rel string) error {
	mode := os.FileMode(hdr.Mode).Perm()
	if rel == "" || rel == "." {
		if hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeSymlink {
			return nil // the data directory or a tablespace link, made already
		}
		return errors.New("names the data directory itself")
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		sub, err := d.MkdirAll(rel, 0o700, x.owner)
		if err != nil {
			return err
		}
		defer sub.Close()
		if err := sub.Chmod(mode | 0o700); err != nil {
			return err
		}
		return sub.Chown(x.owner)
	case tar.TypeSymlink:
		// The target is data: nothing here ever resolves it.
		return d.Symlink(hdr.Linkname, rel, x.owner)
	case tar.TypeReg:
		if d == x.root && rel == "tablespace_map" {
			// PostgreSQL recreates the pg_tblspc links from this file when recovery starts:
			// it names the locations accepted here, never the archive's.
			b, err := io.ReadAll(io.LimitReader(r, 1<<20))
			if err != nil {
				return err
			}
			m, err := rewriteTablespaceMap(string(b), x.locations)
			if err != nil {
				return err
			}
			r = strings.NewReader(m)
		}
		f, err := d.Create(rel, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600, x.owner)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, r)
		x.bytes.Add(n)
		if err == nil && !hdr.ModTime.IsZero() {
			tv := unix.NsecToTimeval(hdr.ModTime.UnixNano())
			_ = unix.Futimes(int(f.Fd()), []unix.Timeval{tv, tv})
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil // other member types (hard links, devices) have no place in a data directory
}

// rewriteTablespaceMap makes every "OID PATH" line of a tablespace_map name the location
// opened for that tablespace; a tablespace the sentinel does not list is refused.
func rewriteTablespaceMap(m string, locations map[string]string) (string, error) {
	lines := strings.Split(m, "\n")
	for i, l := range lines {
		if l == "" {
			continue
		}
		oid, _, _ := strings.Cut(l, " ")
		loc, ok := locations[oid]
		if !ok {
			return "", fmt.Errorf("tablespace_map names tablespace %q, which the backup's sentinel does not list", oid)
		}
		lines[i] = oid + " " + loc
	}
	return strings.Join(lines, "\n"), nil
}
