package archive

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Format names the tool whose layout a backup is in. Both share the folders (basebackups_005/,
// wal_005/) and the sentinel as commit marker; they differ in what the sentinel and the backup
// folder hold.
type Format string

const (
	// FormatWALG is WAL-G's layout, which the charm writes: LSNs, times and versions in the
	// sentinel, pg_control.tar and backup_label.tar beside the parts.
	FormatWALG Format = "wal-g"
	// FormatWALE is WAL-E's (read only): backups named base_<segment>_<offset>, a sentinel with
	// the stop segment and offset only, extended_version.txt, lzop parts part_NNNNNNNN.tar.lzo.
	FormatWALE Format = "wal-e"
)

// ExtendedVersionFile is what WAL-E records next to its parts: SELECT version() of the server.
const ExtendedVersionFile = "extended_version.txt"

// slashedView is the archive's fallback for reading: the same prefix with object names that
// begin with "/", as WAL-E named them on Swift and GCS. Found lazily: listing it costs a
// request, so it is only tried where the ordinary names found nothing.
type slashedView struct {
	view store.Store // nil: the store has no such view (file)
	used atomic.Bool // the archive's objects were found there
}

// src is the store reads go to: the leading-slash view once the archive was found there.
func (a *Archive) src() store.Store {
	if a.slashed.view != nil && a.slashed.used.Load() {
		return a.slashed.view
	}
	return a.Store
}

// listFallback lists prefix in the ordinary names and, when they hold nothing there, in the
// leading-slash view, which reads then keep using.
func (a *Archive) listFallback(ctx context.Context, prefix string, found func([]store.Object) bool) ([]store.Object, error) {
	objs, err := a.src().List(ctx, prefix)
	if err != nil || found(objs) || a.slashed.view == nil || a.slashed.used.Load() {
		return objs, err
	}
	alt, aerr := a.slashed.view.List(ctx, prefix)
	if aerr != nil || !found(alt) {
		return objs, nil
	}
	a.slashed.used.Store(true)
	a.logf("%s: the archive's objects are named with a leading /: reading %s", prefix, a.slashed.view)
	return alt, nil
}

// ReadFrom is the store the archive's objects are read from (for messages and the action's
// output): the URI, noting a leading-slash view.
func (a *Archive) ReadFrom() string { return a.src().String() }

// waleSentinel is WAL-E's backup stop sentinel (wal_e/operator/backup.py database_backup).
type waleSentinel struct {
	StopSegment string `json:"wal_segment_backup_stop"`
	StopOffset  string `json:"wal_segment_offset_backup_stop"`
	Expanded    int64  `json:"expanded_size_bytes"`
}

// waleOffset reads WAL-E's 8-digit offsets: lpad(file_offset::text, 8, '0'), decimal.
func waleOffset(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n >= wal.SegmentSize {
		return 0, fmt.Errorf("WAL-E offset %q: want the decimal byte offset in its segment", s)
	}
	return n, nil
}

var waleNameRE = regexp.MustCompile(`^base_([0-9A-F]{24})_([0-9]{8})$`)

// applyWALE fills a backup listed from a WAL-E sentinel: start from its name (segment and
// decimal offset), finish from the sentinel, the server version from extended_version.txt.
// The finish time stays the sentinel's store time, which the caller set: WAL-E records none.
func (a *Archive) applyWALE(ctx context.Context, b *Backup, raw waleSentinel) error {
	b.Format = FormatWALE
	m := waleNameRE.FindStringSubmatch(b.Name)
	if m == nil {
		return fmt.Errorf("WAL-E backup %s: the name carries no start offset", b.Name)
	}
	seg, err := wal.ParseSegment(m[1])
	if err != nil {
		return fmt.Errorf("WAL-E backup %s: %w", b.Name, err)
	}
	off, err := waleOffset(m[2])
	if err != nil {
		return fmt.Errorf("WAL-E backup %s: %w", b.Name, err)
	}
	b.StartLSN = seg.StartLSN() + wal.LSN(off)
	stop, err := wal.ParseSegment(raw.StopSegment)
	if err != nil {
		return fmt.Errorf("WAL-E backup %s: sentinel: %w", b.Name, err)
	}
	soff, err := waleOffset(raw.StopOffset)
	if err != nil {
		return fmt.Errorf("WAL-E backup %s: sentinel: %w", b.Name, err)
	}
	b.FinishLSN = stop.StartLSN() + wal.LSN(soff)
	b.UncompressedSize = raw.Expanded
	a.applyBackupHistory(ctx, b)
	if spec := b.Sentinel.Spec; spec != nil {
		// WAL-E's partition() walks each tablespace through its link, so the members are named
		// under the data directory ("pg_tblspc/16385/PG_15_.../...") as WAL-G's are, and the
		// spec has WAL-G's form (WAL-G took it from WAL-E): backup-fetch makes the links to the
		// mapped or recorded locations and extracts through them. A spec whose link is not
		// pg_tblspc/OID is not one WAL-E wrote.
		for oid, ts := range spec.Tablespaces {
			if !oidRE.MatchString(oid) || strings.TrimSuffix(ts.Symlink, "/") != "pg_tblspc/"+oid {
				b.Unsupported = fmt.Sprintf("tablespace %q has link %q, not WAL-E's pg_tblspc/%s", oid, ts.Symlink, oid)
			}
		}
	}
	text, err := a.readSmall(ctx, BackupFolder+b.Name+"/"+ExtendedVersionFile)
	if err != nil {
		// Old WAL-E versions uploaded it on a best-effort basis; the major version is then
		// unknown and backup-fetch says so.
		a.logf("WAL-E backup %s: %v", b.Name, err)
		return nil
	}
	b.ExtendedVersion = strings.TrimSpace(text)
	b.PgVersion = parseVersionText(b.ExtendedVersion)
	return nil
}

// readSmall reads a small object whole: JSON sentinels (old WAL-G ones embed the file list, so
// the bound is generous) and WAL-E's version text.
// applyBackupHistory takes a backup's start and stop times from the backup history file
// PostgreSQL archived for it (<segment>.<offset>.backup: "START TIME: ...", "STOP TIME: ..."),
// which survives copying an archive, unlike store times. Times in zones other than UTC or GMT
// are left alone: the abbreviation alone does not give the offset.
func (a *Archive) applyBackupHistory(ctx context.Context, b *Backup) {
	name := fmt.Sprintf("%s.%08X.backup", wal.SegmentOf(b.Timeline, b.StartLSN).Name(), uint64(b.StartLSN)%wal.SegmentSize)
	objs, err := a.findWALToRead(ctx, name)
	if err != nil || len(objs) == 0 {
		return
	}
	rc, err := a.getDecompressed(ctx, preferredObject(objs))
	if err != nil {
		return
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(body), "\n") {
		key, value, ok := strings.Cut(line, ": ")
		if !ok || (key != "START TIME" && key != "STOP TIME") {
			continue
		}
		value = strings.TrimSpace(value)
		zone := value[strings.LastIndexByte(value, ' ')+1:]
		if zone != "UTC" && zone != "GMT" {
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05", strings.TrimSpace(strings.TrimSuffix(value, zone)))
		if err != nil {
			continue
		}
		if key == "START TIME" {
			b.StartTime = t.UTC()
		} else {
			// Whole seconds: round up, so that a backup is never taken for finished before a
			// target within its last second (recovery cannot stop before consistency).
			b.FinishTime = t.UTC().Add(time.Second)
		}
	}
}

func (a *Archive) readSmall(ctx context.Context, key string) (string, error) {
	rc, err := a.src().Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return string(b), nil
}

var versionTextRE = regexp.MustCompile(`^PostgreSQL (\d+)(?:\.(\d+))?`)

// parseVersionText turns SELECT version()'s "PostgreSQL 15.5 (Debian ...) on x86_64..." into
// server_version_num's form (150005; 90624 for 9.6.24); 0 when it does not parse.
func parseVersionText(s string) int {
	m := versionTextRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major >= 10 {
		return major*10000 + minor
	}
	// 9.x: "PostgreSQL 9.6.24"
	rest := strings.TrimPrefix(s, m[0])
	patch := 0
	if strings.HasPrefix(rest, ".") {
		fmt.Sscanf(rest[1:], "%d", &patch)
	}
	return major*10000 + minor*100 + patch
}

// MajorVersion is the major version of a server_version_num (15 for 150005, 9.6 as 906).
func MajorVersion(versionNum int) int {
	if versionNum >= 100000 {
		return versionNum / 10000
	}
	return versionNum / 100
}

// systemIDFromControl reads the system identifier from a data directory's global/pg_control,
// whose first field it is (ControlFileData, native byte order; 0 when unreadable).
func systemIDFromControl(dir string) uint64 {
	f, err := os.Open(filepath.Join(dir, "global", "pg_control"))
	if err != nil {
		return 0
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0
	}
	return binary.NativeEndian.Uint64(b[:])
}

// CheckRestorable says why a backup cannot be restored on a server of major version major
// (server_version_num / 10000 for 10 and later; 0 skips the version check): a delta backup,
// an unsupported layout, or another major version (PostgreSQL refuses to start on a data
// directory of another major version, after the old one was already replaced).
func CheckRestorable(b Backup, major int) error {
	if b.IsDelta {
		return fmt.Errorf("backup %s is a WAL-G delta backup, which the charm cannot restore: restore it with WAL-G's own backup-fetch (wal-g backup-fetch DIR %s), or restore a full backup", b.Name, b.Name)
	}
	if b.Unsupported != "" {
		return fmt.Errorf("backup %s: %s", b.Name, b.Unsupported)
	}
	if major == 0 {
		return nil
	}
	if b.PgVersion == 0 {
		if b.Format == FormatWALE {
			return fmt.Errorf("WAL-E backup %s has no readable %s, so its PostgreSQL major version is unknown; refusing to restore it on PostgreSQL %d", b.Name, ExtendedVersionFile, major)
		}
		return nil // WAL-G always records it; the charm's own backups too
	}
	if got := MajorVersion(b.PgVersion); got != major {
		what := fmt.Sprintf("PostgreSQL %d", got)
		if b.ExtendedVersion != "" {
			what = fmt.Sprintf("%q", b.ExtendedVersion)
		}
		return fmt.Errorf("backup %s was taken by %s, this unit runs PostgreSQL %d: restore it on a unit of the same major version", b.Name, what, major)
	}
	return nil
}
