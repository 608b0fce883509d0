package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Sentinel is WAL-G's backup stop sentinel (BackupSentinelDtoV2): written last, its presence
// is what makes a backup exist.
type Sentinel struct {
	StartLSN              wal.LSN         `json:"LSN"`
	FinishLSN             wal.LSN         `json:"FinishLSN"`
	PgVersion             int             `json:"PgVersion"`
	SystemIdentifier      *uint64         `json:"SystemIdentifier,omitempty"`
	UncompressedSize      int64           `json:"UncompressedSize"`
	CompressedSize        int64           `json:"CompressedSize"`
	DataCatalogSize       int64           `json:"DataCatalogSize"`
	Spec                  *TablespaceSpec `json:"Spec,omitempty"`
	UserData              any             `json:"UserData,omitempty"`
	FilesMetadataDisabled bool            `json:"FilesMetadataDisabled,omitempty"`
	DeltaFrom             string          `json:"DeltaFrom,omitempty"`
	DeltaFullName         string          `json:"DeltaFullName,omitempty"`
	DeltaCount            int             `json:"DeltaCount,omitempty"`
	Version               int             `json:"Version,omitempty"`
	StartTime             time.Time       `json:"StartTime"`
	FinishTime            time.Time       `json:"FinishTime"`
	DateFmt               string          `json:"DateFmt,omitempty"`
	Hostname              string          `json:"Hostname,omitempty"`
	DataDir               string          `json:"DataDir,omitempty"`
	IsPermanent           bool            `json:"IsPermanent"`
}

// UnmarshalJSON also accepts WAL-E's lowercase "spec".
func (s *Sentinel) UnmarshalJSON(b []byte) error {
	type plain Sentinel
	var p struct {
		plain
		LowerSpec *TablespaceSpec `json:"spec"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Sentinel(p.plain)
	if s.Spec == nil {
		s.Spec = p.LowerSpec
	}
	return nil
}

// TablespaceSpec is WAL-G's tablespace description: the data directory and, per tablespace
// OID, where its files lived and the symlink inside pg_tblspc.
type TablespaceSpec struct {
	BasePrefix  string
	Tablespaces map[string]TablespaceLocation // by OID, as a decimal string
}

// TablespaceLocation is one tablespace in a TablespaceSpec.
type TablespaceLocation struct {
	Location string `json:"loc"`
	Symlink  string `json:"link"`
}

// MarshalJSON writes WAL-G's flat form: {"base_prefix": ..., "tablespaces": [oids], oid: {...}}.
func (t TablespaceSpec) MarshalJSON() ([]byte, error) {
	m := map[string]any{"base_prefix": t.BasePrefix}
	oids := make([]string, 0, len(t.Tablespaces))
	for oid, loc := range t.Tablespaces {
		oids = append(oids, oid)
		m[oid] = loc
	}
	sort.Strings(oids)
	m["tablespaces"] = oids
	return json.Marshal(m)
}

// UnmarshalJSON reads WAL-G's flat form.
func (t *TablespaceSpec) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	t.Tablespaces = map[string]TablespaceLocation{}
	if raw, ok := m["base_prefix"]; ok {
		if err := json.Unmarshal(raw, &t.BasePrefix); err != nil {
			return fmt.Errorf("tablespace spec base_prefix: %w", err)
		}
	}
	var oids []string
	if raw, ok := m["tablespaces"]; ok {
		if err := json.Unmarshal(raw, &oids); err != nil {
			return fmt.Errorf("tablespace spec list: %w", err)
		}
	}
	for _, oid := range oids {
		var loc TablespaceLocation
		if raw, ok := m[oid]; ok {
			if err := json.Unmarshal(raw, &loc); err != nil {
				return fmt.Errorf("tablespace %s: %w", oid, err)
			}
		}
		t.Tablespaces[oid] = loc
	}
	return nil
}

// Metadata is WAL-G's metadata.json (ExtendedMetadataDto).
type Metadata struct {
	StartTime        time.Time `json:"start_time"`
	FinishTime       time.Time `json:"finish_time"`
	DateFmt          string    `json:"date_fmt"`
	Hostname         string    `json:"hostname"`
	DataDir          string    `json:"data_dir"`
	PgVersion        int       `json:"pg_version"`
	StartLSN         wal.LSN   `json:"start_lsn"`
	FinishLSN        wal.LSN   `json:"finish_lsn"`
	IsPermanent      bool      `json:"is_permanent"`
	SystemIdentifier *uint64   `json:"system_identifier"`
	UncompressedSize int64     `json:"uncompressed_size"`
	CompressedSize   int64     `json:"compressed_size"`
	UserData         any       `json:"user_data,omitempty"`
}

// FileDescription is one entry of files_metadata.json.
type FileDescription struct {
	IsIncremented bool      `json:"IsIncremented"`
	IsSkipped     bool      `json:"IsSkipped"`
	MTime         time.Time `json:"MTime"`
	UpdatesCount  uint64    `json:"UpdatesCount"`
}

// FilesMetadata is WAL-G's files_metadata.json.
type FilesMetadata struct {
	Files            map[string]FileDescription `json:"Files"`
	TarFileSets      map[string][]string        `json:"TarFileSets"`
	DatabasesByNames map[string]any             `json:"DatabasesByNames"`
}

// dateFmt is the strftime form WAL-G records next to its times.
const dateFmt = "%Y-%m-%dT%H:%M:%S.%fZ"

// Backup is one complete backup as listed (its sentinel exists).
type Backup struct {
	Name             string    `json:"name"`
	Timeline         uint32    `json:"timeline"`
	StartLSN         wal.LSN   `json:"start_lsn"`
	FinishLSN        wal.LSN   `json:"finish_lsn"`
	StartTime        time.Time `json:"start_time"`
	FinishTime       time.Time `json:"finish_time"`
	Modified         time.Time `json:"modified"` // the sentinel's store time (WAL-G's LATEST order)
	SystemIdentifier uint64    `json:"system_identifier"`
	PgVersion        int       `json:"pg_version"`
	UncompressedSize int64     `json:"uncompressed_size"`
	CompressedSize   int64     `json:"compressed_size"`
	Hostname         string    `json:"hostname,omitempty"`
	IsPermanent      bool      `json:"is_permanent"`
	// IsDelta marks WAL-G delta backups, which we list but cannot restore.
	IsDelta bool `json:"is_delta,omitempty"`
	// Format is the layout the backup was found in: wal-g (ours too) or wal-e.
	Format Format `json:"format"`
	// ExtendedVersion is WAL-E's extended_version.txt (SELECT version() at backup time).
	ExtendedVersion string `json:"extended_version,omitempty"`
	// Unsupported, when set, says why the backup is listed but cannot be restored.
	Unsupported string   `json:"unsupported,omitempty"`
	Sentinel    Sentinel `json:"-"`
}

// StartSegment is the segment the backup's WAL starts in (its name's segment).
func (b Backup) StartSegment() wal.Segment {
	if s, err := ParseBackupName(b.Name); err == nil {
		return s
	}
	return wal.SegmentOf(b.Timeline, b.StartLSN)
}

// MarshalJSON prints LSNs in PostgreSQL's notation for people and the charm; sentinels and
// metadata keep WAL-G's numbers.
func (b Backup) MarshalJSON() ([]byte, error) {
	type plain Backup
	return json.Marshal(struct {
		plain
		StartLSN  string `json:"start_lsn"`
		FinishLSN string `json:"finish_lsn"`
	}{plain(b), b.StartLSN.String(), b.FinishLSN.String()})
}

func sentinelKey(name string) string { return BackupFolder + name + SentinelSuffix }

// ErrBackupNotFound is wrapped when a named backup has no sentinel.
var ErrBackupNotFound = errors.New("backup not found")

// ListBackups returns the complete backups (those with a sentinel), oldest first by sentinel
// store time; sentinels that cannot be read are reported in the error only if none can be.
func (a *Archive) ListBackups(ctx context.Context) ([]Backup, error) {
	objs, err := a.listFallback(ctx, BackupFolder, func(objs []store.Object) bool {
		return slices.ContainsFunc(objs, func(o store.Object) bool { return strings.HasSuffix(o.Name, SentinelSuffix) })
	})
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var sentinels []store.Object
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Name, BackupFolder)
		if strings.Contains(rest, "/") || !strings.HasSuffix(rest, SentinelSuffix) {
			continue
		}
		if _, err := ParseBackupName(strings.TrimSuffix(rest, SentinelSuffix)); err != nil {
			continue
		}
		sentinels = append(sentinels, o)
	}
	out := make([]Backup, len(sentinels))
	errs := make([]error, len(sentinels))
	var wg sync.WaitGroup
	sem := make(chan struct{}, a.Concurrency)
	for i, o := range sentinels {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = a.readBackup(ctx, o)
		}()
	}
	wg.Wait()
	var list []Backup
	var firstErr error
	for i := range out {
		if errs[i] != nil {
			a.logf("backup-list: %v", errs[i])
			firstErr = cmpErr(firstErr, errs[i])
			continue
		}
		list = append(list, out[i])
	}
	if len(list) == 0 && firstErr != nil {
		return nil, firstErr
	}
	sortBackups(list)
	return list, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// sortBackups orders by sentinel time, then start LSN, so LATEST is the last.
func sortBackups(list []Backup) {
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].Modified.Equal(list[j].Modified) {
			return list[i].Modified.Before(list[j].Modified)
		}
		return list[i].StartLSN < list[j].StartLSN
	})
}

func (a *Archive) readBackup(ctx context.Context, o store.Object) (Backup, error) {
	name := strings.TrimSuffix(strings.TrimPrefix(o.Name, BackupFolder), SentinelSuffix)
	raw, err := a.readSmall(ctx, o.Name)
	if err != nil {
		return Backup{}, fmt.Errorf("backup %s: %w", name, err)
	}
	var s Sentinel
	var wale waleSentinel
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Backup{}, fmt.Errorf("backup %s: read %s: %w", name, o.Name, err)
	}
	if err := json.Unmarshal([]byte(raw), &wale); err != nil {
		return Backup{}, fmt.Errorf("backup %s: read %s: %w", name, o.Name, err)
	}
	start, _ := ParseBackupName(name)
	b := Backup{
		Name: name, Timeline: start.TLI, StartLSN: s.StartLSN, FinishLSN: s.FinishLSN,
		StartTime: s.StartTime, FinishTime: s.FinishTime, Modified: o.Modified, PgVersion: s.PgVersion,
		UncompressedSize: s.UncompressedSize, CompressedSize: s.CompressedSize, Hostname: s.Hostname,
		IsPermanent: s.IsPermanent, Sentinel: s, IsDelta: s.DeltaFrom != "" || strings.Contains(name, "_D_"),
	}
	if s.SystemIdentifier != nil {
		b.SystemIdentifier = *s.SystemIdentifier
	}
	if wale.StopSegment != "" {
		// WAL-E records no time at all: the sentinel, uploaded last, was stored when the backup
		// finished (WAL-E's own backup-list shows the same last-modified time), unless the
		// archive was copied since; the backup history file, when archived, says better.
		b.FinishTime = o.Modified
		if err := a.applyWALE(ctx, &b, wale); err != nil {
			return Backup{}, err
		}
		return b, nil
	}
	b.Format = FormatWALG
	// Version 1 sentinels carry no times: metadata.json may.
	if b.FinishTime.IsZero() {
		var m Metadata
		if err := a.readJSON(ctx, BackupFolder+name+"/"+MetadataFile, &m); err == nil {
			b.StartTime, b.FinishTime, b.Hostname = m.StartTime, m.FinishTime, m.Hostname
			b.IsPermanent = b.IsPermanent || m.IsPermanent
		}
	}
	if b.FinishTime.IsZero() {
		b.FinishTime = o.Modified
	}
	return b, nil
}

func (a *Archive) readJSON(ctx context.Context, key string, v any) error {
	rc, err := a.src().Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	return nil
}

func (a *Archive) putJSON(ctx context.Context, key string, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := a.Store.Put(ctx, key, bytes.NewReader(body)); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// FindBackup resolves a backup name or LATEST (the newest sentinel by store time, as WAL-G).
func (a *Archive) FindBackup(ctx context.Context, name string) (Backup, error) {
	list, err := a.ListBackups(ctx)
	if err != nil {
		return Backup{}, err
	}
	if name == "LATEST" {
		if len(list) == 0 {
			return Backup{}, fmt.Errorf("LATEST: %w: the archive %s has no complete backup", ErrBackupNotFound, a.Store)
		}
		return list[len(list)-1], nil
	}
	for _, b := range list {
		if b.Name == name {
			return b, nil
		}
	}
	return Backup{}, fmt.Errorf("%s: %w in %s", name, ErrBackupNotFound, a.Store)
}
