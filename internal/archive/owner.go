package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// OwnerObject records which cluster an archive belongs to. It lives at the prefix root, outside
// WAL-G's folders, so WAL-G ignores it and our delete never touches it.
const OwnerObject = "pgcharm_archive_owner.json"

// Owner is the cluster an archive belongs to: the first push records it, later pushes from any
// other cluster are refused. Two services sharing a bucket by mistake would otherwise overwrite
// each other's history silently (WAL-G only records the identifier in sentinels).
type Owner struct {
	SystemIdentifier uint64    `json:"system_identifier"`
	PgMajor          int       `json:"pg_major,omitempty"`
	Hostname         string    `json:"hostname,omitempty"`
	Created          time.Time `json:"created"`
}

// ForeignClusterError is returned when a cluster pushes into an archive another cluster owns.
type ForeignClusterError struct {
	URI   string
	Owner Owner
	Ours  uint64
}

func (e *ForeignClusterError) Error() string {
	return fmt.Sprintf("archive %s belongs to the cluster with system identifier %d (PostgreSQL %d, first pushed from %s at %s); "+
		"this cluster's system identifier is %d: refusing to push into another cluster's archive (use a different wal_e_storage_uri)",
		e.URI, e.Owner.SystemIdentifier, e.Owner.PgMajor, e.Owner.Hostname, e.Owner.Created.UTC().Format(time.RFC3339), e.Ours)
}

// ArchiveOwner reads the owner record; nil (and no error) when the archive has none yet.
func (a *Archive) ArchiveOwner(ctx context.Context) (*Owner, error) {
	rc, err := a.Store.Get(ctx, OwnerObject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read archive owner: %w", err)
	}
	defer rc.Close()
	var o Owner
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&o); err != nil {
		return nil, fmt.Errorf("read archive owner %s/%s: %w", a.Store, OwnerObject, err)
	}
	return &o, nil
}

// ownerCheck remembers a successful check for the life of the process (one wal-push uploads
// many files).
type ownerCheck struct {
	mu sync.Mutex
	ok map[uint64]bool
}

// CheckOwner makes sure the archive belongs to the cluster sysid, claiming it when nobody has.
func (a *Archive) CheckOwner(ctx context.Context, sysid uint64, pgMajor int) error {
	a.owner.mu.Lock()
	defer a.owner.mu.Unlock()
	if a.owner.ok[sysid] {
		return nil
	}
	o, err := a.ArchiveOwner(ctx)
	if err != nil {
		return err
	}
	if o == nil {
		if err := a.CheckUnclaimed(ctx, sysid); err != nil {
			return err
		}
		host, _ := os.Hostname()
		mine := Owner{SystemIdentifier: sysid, PgMajor: pgMajor, Hostname: host, Created: time.Now().UTC()}
		body, _ := json.MarshalIndent(mine, "", "  ")
		if err := a.Store.Put(ctx, OwnerObject, bytes.NewReader(body)); err != nil {
			return fmt.Errorf("record archive owner: %w", err)
		}
		a.logf("archive %s now belongs to the cluster with system identifier %d", a.Store, sysid)
		// Two clusters claiming at once: the last write wins, and the loser sees it here.
		if o, err = a.ArchiveOwner(ctx); err != nil {
			return err
		}
		if o == nil {
			return fmt.Errorf("archive owner %s/%s vanished right after being written", a.Store, OwnerObject)
		}
	}
	if o.SystemIdentifier != sysid {
		return &ForeignClusterError{URI: a.Store.String(), Owner: *o, Ours: sysid}
	}
	if a.owner.ok == nil {
		a.owner.ok = map[uint64]bool{}
	}
	a.owner.ok[sysid] = true
	return nil
}

// UnclaimedError refuses to claim an archive without an owner record that holds another
// database's backups, or WAL without any backup (another tool's archive).
type UnclaimedError struct {
	URI    string
	Reason string
}

func (e *UnclaimedError) Error() string {
	return fmt.Sprintf("archive %s has no owner record but %s: refusing to archive into it (use a new, empty wal_e_storage_uri)", e.URI, e.Reason)
}

// CheckUnclaimed makes sure an archive nobody claimed holds nothing of another database
// before sysid claims it (an *UnclaimedError otherwise): only its sentinels' system identifiers and whether WAL is there
// are read, under basebackups_005/ and wal_005/ only.
func (a *Archive) CheckUnclaimed(ctx context.Context, sysid uint64) error {
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return err
	}
	for _, b := range backups {
		if b.SystemIdentifier != 0 && b.SystemIdentifier != sysid {
			return &UnclaimedError{URI: a.Store.String(), Reason: fmt.Sprintf("backup %s of the database with system identifier %d", b.Name, b.SystemIdentifier)}
		}
	}
	if len(backups) > 0 {
		return nil
	}
	walObjs, err := a.Store.List(ctx, WALFolder)
	if err != nil {
		return fmt.Errorf("list %s: %w", WALFolder, err)
	}
	for _, o := range walObjs {
		if _, err := wal.ParseSegment(strings.TrimSuffix(path.Base(o.Name), path.Ext(o.Name))); err == nil {
			return &UnclaimedError{URI: a.Store.String(), Reason: "WAL (" + path.Base(o.Name) + ") and no backup"}
		}
	}
	return nil
}

// ReadControlSystemID reads the system identifier from PGDATA/global/pg_control (its first
// field, in the machine's byte order, which is little-endian on every platform the charm builds
// for).
func ReadControlSystemID(pgdata string) (uint64, error) {
	f, err := os.Open(filepath.Join(pgdata, "global", "pg_control"))
	if err != nil {
		return 0, fmt.Errorf("read system identifier: %w", err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, fmt.Errorf("read system identifier from %s: %w", f.Name(), err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// ReadPgMajor reads PGDATA/PG_VERSION (0 when absent).
func ReadPgMajor(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// WAL page header facts (access/xlog_internal.h): every segment starts with a long page header
// that carries the cluster's system identifier, so a segment names its cluster by itself.
const (
	walLongHeaderLen = 40
	xlpLongHeader    = 0x0002
	minWALMagic      = 0xD061 // the oldest magic WAL-G accepts in prefetched files
)

// SegmentHeader is what a segment's first page header says about it.
type SegmentHeader struct {
	Magic    uint16
	TLI      uint32
	PageAddr wal.LSN
	SysID    uint64
	SegSize  uint32
	BlockSz  uint32
}

// ParseSegmentHeader decodes the long page header at the start of a segment.
func ParseSegmentHeader(b []byte) (SegmentHeader, error) {
	if len(b) < walLongHeaderLen {
		return SegmentHeader{}, fmt.Errorf("WAL segment shorter than its header (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	h := SegmentHeader{
		Magic:    le.Uint16(b[0:]),
		TLI:      le.Uint32(b[4:]),
		PageAddr: wal.LSN(le.Uint64(b[8:])),
		SysID:    le.Uint64(b[24:]),
		SegSize:  le.Uint32(b[32:]),
		BlockSz:  le.Uint32(b[36:]),
	}
	if h.Magic < minWALMagic || le.Uint16(b[2:])&xlpLongHeader == 0 {
		return h, fmt.Errorf("not a WAL segment (magic %#x, info %#x)", h.Magic, le.Uint16(b[2:]))
	}
	return h, nil
}

// checkSegmentBytes verifies that data is the complete segment seg: right size, header naming
// the same timeline and position. wal-fetch never hands PostgreSQL anything else.
func checkSegmentHead(seg wal.Segment, head []byte, size int64) error {
	if uint64(size) != wal.SegmentSize {
		return fmt.Errorf("segment %s has %d bytes, want %d", seg, size, wal.SegmentSize)
	}
	h, err := ParseSegmentHeader(head)
	if err != nil {
		return fmt.Errorf("segment %s: %w", seg, err)
	}
	// The first segment of a new timeline starts as a copy of its parent's segment up to the
	// switch point (XLogInitNewTimeline), so its first page names an earlier timeline; a later
	// one never.
	if h.TLI > seg.TLI || h.PageAddr != seg.StartLSN() || uint64(h.SegSize) != wal.SegmentSize {
		return fmt.Errorf("segment %s: header says timeline %d at %s, segment size %d", seg, h.TLI, h.PageAddr, h.SegSize)
	}
	return nil
}

// CheckUsable tells the charm, when the configuration changes, whether this cluster can
// archive here: the store accepts the credentials for listing, writing, reading and deleting,
// and the archive is unowned or owned by sysid (a *ForeignClusterError otherwise). It claims
// nothing: the first push does.
func (a *Archive) CheckUsable(ctx context.Context, sysid uint64) error {
	if err := store.Check(ctx, a.Store); err != nil {
		return err
	}
	o, err := a.ArchiveOwner(ctx)
	if err != nil {
		return err
	}
	if o != nil && o.SystemIdentifier != sysid {
		return &ForeignClusterError{URI: a.Store.String(), Owner: *o, Ours: sysid}
	}
	if o == nil {
		return a.CheckUnclaimed(ctx, sysid)
	}
	return nil
}
