// Package legacyfixture writes, for tests, the layouts real WAL-G 3.0.9 and WAL-E write for a
// full backup of a running PostgreSQL cluster, and archives its WAL in them.
//
// Neither tool can run here (the Go module proxy does not serve WAL-G; WAL-E is Python 2/3 with
// gevent and boto, and cannot back up PostgreSQL 15 without a patch), so each writer below
// follows the tool's source, cited per step:
//   - WAL-G v3.0.9: internal/databases/postgres/bundle.go (HandleWalkedFSObject, addToBundle,
//     UploadPgControl, uploadLabelFiles, ExcludedFilenames), internal/bundle.go
//     (GetFileRelPath: "/" + path relative to PGDATA, so the data directory itself is "/"),
//     internal/storage_tar_ball.go (part_%0.3d.tar.<ext>), regular_tar_ball_composer.go
//     (TarFileSets holds every header, directories too), backup_sentinel_dto.go
//     (BackupSentinelDtoV2, ExtendedMetadataDto, FilesMetadataDto), backup_push_handler.go
//     (upload order: parts, pg_control.tar, backup_label.tar, metadata.json,
//     files_metadata.json, sentinel), query_runner.go (pg_backup_start($1, true),
//     pg_backup_stop()).
//   - WAL-E (wal-e/wal-e 978bc19): wal_e/tar_partition.py (partition: what is walked and
//     excluded, arcnames relative to the data directory, so the directory itself becomes "/",
//     PARTITION_MAX_SZ), wal_e/worker/upload.py (part_%08d.tar.lzo), wal_e/operator/backup.py
//     (extended_version.txt first, sentinel last with wal_segment_backup_stop,
//     wal_segment_offset_backup_stop, expanded_size_bytes, spec), psql_worker.py (offsets as
//     lpad(file_offset::text, 8, '0'), decimal), wal_e/storage/base.py (wal_005/<name>.lzo),
//     wal_e/blobstore/swift/utils.py (object name = the URL path, with its leading "/").
//     Compression is the real `lzop -c`, as WAL-E's pipeline runs it.
package legacyfixture

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Source is the cluster a backup is taken of: a pgx connection string (a superuser) and its
// data directory, readable by the caller.
type Source struct {
	Conn    string
	DataDir string
}

func connect(t testing.TB, c Source) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// walgCompress is WAL-G's compressor for its method names (internal/compression/*): the
// libraries' writers with WAL-G's settings.
func walgCompress(t testing.TB, method string, w io.Writer) (io.WriteCloser, string) {
	switch method {
	case "lz4":
		return lz4.NewWriter(w), "lz4" // pierrec/lz4/v4 defaults, as WAL-G
	case "zstd":
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			t.Fatal(err)
		}
		return zw, "zst"
	case "brotli":
		return brotli.NewWriterLevel(w, 3), "br" // cbrotli Quality 3
	case "lzma":
		zw, err := lzma.NewWriter(w) // ulikunitz/xz/lzma, the classic .lzma format
		if err != nil {
			t.Fatal(err)
		}
		return zw, "lzma"
	}
	return nopCloser{w}, ""
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// walgTar is one tarball being written (internal/storage_tar_ball.go).
type walgTar struct {
	name string
	f    *os.File
	cw   *countWriter
	zw   io.WriteCloser
	tw   *tar.Writer
	size int64 // what TarBall.AddSize counted: the members' sizes
}

func newWALGTar(t testing.TB, folder, plain, method string) *walgTar {
	tb := &walgTar{}
	var ext string
	f, err := os.Create(filepath.Join(folder, plain+".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	tb.f, tb.cw = f, &countWriter{w: f}
	tb.zw, ext = walgCompress(t, method, tb.cw)
	tb.name = plain
	if ext != "" {
		tb.name += "." + ext
	}
	tb.tw = tar.NewWriter(tb.zw)
	return tb
}

func (tb *walgTar) close(t testing.TB, folder string) int64 {
	if err := tb.tw.Close(); err != nil {
		t.Fatal(err)
	}
	tb.zw.Close()
	tb.f.Close()
	if err := os.Rename(tb.f.Name(), filepath.Join(folder, tb.name)); err != nil {
		t.Fatal(err)
	}
	return tb.cw.n
}

// The JSON documents, with WAL-G 3.0.9's field names, order and omitempty choices.
type walgSentinelDto struct {
	LSN                   uint64          `json:"LSN"`
	DeltaLSN              *uint64         `json:"DeltaLSN,omitempty"`
	DeltaFrom             *string         `json:"DeltaFrom,omitempty"`
	DeltaFullName         *string         `json:"DeltaFullName,omitempty"`
	DeltaCount            *int            `json:"DeltaCount,omitempty"`
	PgVersion             int             `json:"PgVersion"`
	FinishLSN             uint64          `json:"FinishLSN"`
	SystemIdentifier      *uint64         `json:"SystemIdentifier,omitempty"`
	UncompressedSize      int64           `json:"UncompressedSize"`
	CompressedSize        int64           `json:"CompressedSize"`
	DataCatalogSize       int64           `json:"DataCatalogSize,omitempty"`
	Spec                  json.RawMessage `json:"Spec,omitempty"`
	UserData              any             `json:"UserData,omitempty"`
	FilesMetadataDisabled bool            `json:"FilesMetadataDisabled,omitempty"`
	ChkpNum               *uint32         `json:"ChkpNum"`
	DeltaChkpNum          *uint32         `json:"DeltaChkpNum,omitempty"`
}

type walgSentinelDtoV2 struct {
	walgSentinelDto
	Version     int       `json:"Version"`
	StartTime   time.Time `json:"StartTime"`
	FinishTime  time.Time `json:"FinishTime"`
	DateFmt     string    `json:"DateFmt"`
	Hostname    string    `json:"Hostname"`
	DataDir     string    `json:"DataDir"`
	IsPermanent bool      `json:"IsPermanent"`
}

type walgExtendedMetadataDto struct {
	StartTime        time.Time `json:"start_time"`
	FinishTime       time.Time `json:"finish_time"`
	DateFmt          string    `json:"date_fmt"`
	Hostname         string    `json:"hostname"`
	DataDir          string    `json:"data_dir"`
	PgVersion        int       `json:"pg_version"`
	StartLsn         uint64    `json:"start_lsn"`
	FinishLsn        uint64    `json:"finish_lsn"`
	IsPermanent      bool      `json:"is_permanent"`
	SystemIdentifier *uint64   `json:"system_identifier"`
	UncompressedSize int64     `json:"uncompressed_size"`
	CompressedSize   int64     `json:"compressed_size"`
	UserData         any       `json:"user_data,omitempty"`
}

type walgFileDescription struct {
	IsIncremented bool
	IsSkipped     bool
	MTime         time.Time
	CorruptBlocks *struct{} `json:",omitempty"`
	UpdatesCount  uint64
}

type walgFilesMetadataDto struct {
	Files            map[string]walgFileDescription `json:"Files,omitempty"`
	TarFileSets      map[string][]string            `json:"TarFileSets,omitempty"`
	DatabasesByNames map[string]any                 `json:"DatabasesByNames,omitempty"`
}

// walgExcluded is bundle.go's ExcludedFilenames, matched against base names at any depth:
// files are left out, directories are written as a header without their contents.
var walgExcluded = map[string]bool{
	"log": true, "pg_log": true, "pg_xlog": true, "pg_wal": true,
	"pgsql_tmp": true, "postgresql.auto.conf.tmp": true, "postmaster.pid": true, "postmaster.opts": true, "recovery.conf": true,
	"pg_dynshmem": true, "pg_notify": true, "pg_replslot": true, "pg_serial": true, "pg_stat_tmp": true, "pg_snapshots": true, "pg_subtrans": true,
	"standby.signal": true,
}

func lsnNumber(t testing.TB, s string) uint64 {
	l, err := wal.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(l)
}

// WALG309Backup takes a full backup of c the way `wal-g backup-push $PGDATA` 3.0.9 does with
// WALG_COMPRESSION_METHOD=method, into the archive directory arch (a file:// prefix, whose
// store time of the sentinel is its modification time). threshold is WALG_TAR_SIZE_THRESHOLD.
// It returns the backup name and the names of the members written.
func WALG309Backup(t testing.TB, c Source, arch, method string, threshold int64) (string, []string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, c)
	start := time.Now().UTC()
	var file, startLSN string
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT case when pg_catalog.pg_is_in_recovery() then '' else (pg_catalog.pg_walfile_name_offset(lsn)).file_name end, lsn::text, pg_catalog.pg_is_in_recovery() FROM pg_catalog.pg_backup_start($1, true) lsn",
		start.String()).Scan(&file, &startLSN, &inRecovery); err != nil {
		t.Fatal(err)
	}
	name := "base_" + file
	folder := filepath.Join(arch, "basebackups_005", name, "tar_partitions")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	pgdata := c.DataDir
	files := map[string]walgFileDescription{}
	sets := map[string][]string{}
	var members []string
	var compressed, catalog int64
	partNo := 1
	cur := newWALGTar(t, folder, fmt.Sprintf("part_%0.3d.tar", partNo), method)
	rotate := func() {
		// CheckSizeAndEnqueueBack: a tarball past the threshold is closed, the next one opened.
		if cur.size > threshold {
			compressed += cur.close(t, folder)
			partNo++
			cur = newWALGTar(t, folder, fmt.Sprintf("part_%0.3d.tar", partNo), method)
		}
	}
	relPath := func(p string) string {
		return "/" + strings.TrimRight(strings.TrimLeft(strings.TrimPrefix(p, pgdata), "/"), "/")
	}
	var controlPath string
	var controlInfo os.FileInfo
	err := filepath.Walk(pgdata, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		catalog += info.Size()
		if info.Name() == "pg_control" {
			controlPath, controlInfo = p, info
			return nil
		}
		excluded := walgExcluded[info.Name()]
		if excluded && !info.IsDir() {
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, info.Name())
		if err != nil {
			return err
		}
		hdr.Name = relPath(p)
		if !excluded && info.Mode().IsRegular() {
			files[hdr.Name] = walgFileDescription{MTime: info.ModTime()}
			sets[cur.name] = append(sets[cur.name], hdr.Name)
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := cur.tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.Copy(cur.tw, io.LimitReader(f, hdr.Size)); err != nil {
				return err
			}
			cur.size += hdr.Size
			members = append(members, hdr.Name)
			rotate()
			return nil
		}
		// AddHeader: directories (excluded ones too), symlinks.
		files[hdr.Name] = walgFileDescription{MTime: info.ModTime()}
		sets[cur.name] = append(sets[cur.name], hdr.Name)
		if err := cur.tw.WriteHeader(hdr); err != nil {
			return err
		}
		members = append(members, hdr.Name)
		if excluded && info.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	compressed += cur.close(t, folder)
	// UploadPgControl: global/pg_control alone, after every other part.
	ctl := newWALGTar(t, folder, "pg_control.tar", method)
	hdr, _ := tar.FileInfoHeader(controlInfo, controlInfo.Name())
	hdr.Name = relPath(controlPath)
	ctl.tw.WriteHeader(hdr)
	cf, _ := os.Open(controlPath)
	io.Copy(ctl.tw, io.LimitReader(cf, hdr.Size))
	cf.Close()
	members = append(members, hdr.Name)
	compressed += ctl.close(t, folder)
	// uploadLabelFiles: pg_backup_stop()'s label and map, bare names, mode 0600, no time.
	var label, spcmap, finishLSN string
	if err := conn.QueryRow(ctx, "SELECT labelfile, spcmapfile, lsn FROM pg_catalog.pg_backup_stop()").Scan(&label, &spcmap, &finishLSN); err != nil {
		t.Fatal(err)
	}
	lb := newWALGTar(t, folder, "backup_label.tar", method)
	for _, m := range []struct{ name, body string }{{"backup_label", label}, {"tablespace_map", spcmap}} {
		lb.tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o600, Size: int64(len(m.body)), Typeflag: tar.TypeReg})
		io.WriteString(lb.tw, m.body)
		members = append(members, m.name)
	}
	sets[lb.name] = []string{"tablespace_map", "backup_label"}
	compressed += lb.close(t, folder)
	for p := range sets {
		sort.Strings(sets[p])
	}
	var sysid uint64
	var version int
	if err := conn.QueryRow(ctx, "SELECT system_identifier FROM pg_control_system()").Scan(&sysid); err != nil {
		t.Fatal(err)
	}
	var vs string
	conn.QueryRow(ctx, "SHOW server_version_num").Scan(&vs)
	fmt.Sscanf(vs, "%d", &version)
	allSize := catalog // AllTarballsSize: what the tarballs took in; close enough for a fixture
	host, _ := os.Hostname()
	meta := walgExtendedMetadataDto{StartTime: start, FinishTime: time.Now().UTC(), DateFmt: "%Y-%m-%dT%H:%M:%S.%fZ",
		Hostname: host, DataDir: pgdata, PgVersion: version, StartLsn: lsnNumber(t, startLSN), FinishLsn: lsnNumber(t, finishLSN),
		SystemIdentifier: &sysid, UncompressedSize: allSize, CompressedSize: compressed}
	sentinel := walgSentinelDtoV2{walgSentinelDto: walgSentinelDto{LSN: meta.StartLsn, PgVersion: version, FinishLSN: meta.FinishLsn,
		SystemIdentifier: &sysid, UncompressedSize: allSize, CompressedSize: compressed, DataCatalogSize: catalog},
		Version: 2, StartTime: meta.StartTime, FinishTime: meta.FinishTime, DateFmt: meta.DateFmt, Hostname: host, DataDir: pgdata}
	dbs := map[string]any{}
	rows, _ := conn.Query(ctx, "SELECT datname, oid::int8 FROM pg_database WHERE datallowconn")
	for rows.Next() {
		var n string
		var oid int64
		rows.Scan(&n, &oid)
		dbs[n] = map[string]any{"oid": oid}
	}
	rows.Close()
	writeJSON(t, filepath.Join(arch, "basebackups_005", name, "metadata.json"), meta)
	writeJSON(t, filepath.Join(arch, "basebackups_005", name, "files_metadata.json"),
		walgFilesMetadataDto{Files: files, TarFileSets: sets, DatabasesByNames: dbs})
	writeJSON(t, filepath.Join(arch, "basebackups_005", name+"_backup_stop_sentinel.json"), sentinel)
	return name, members
}

// waleExcludedTop and waleExcludedAny are tar_partition.partition's do_not_descend lists:
// the directory is kept as an (empty) member, its contents are not.
var (
	waleExcludedTop = map[string]bool{"pg_xlog": true, "pg_log": true, "pg_replslot": true, "pg_wal": true}
	waleExcludedAny = map[string]bool{"pgsql_tmp": true, "pg_stat_tmp": true, ".wal-e": true}
	// PG_CONF and the lock files, left out at the top level.
	waleSkippedTop = map[string]bool{"postmaster.pid": true, "postmaster.opts": true, "postgresql.conf": true,
		"pg_hba.conf": true, "recovery.conf": true, "recovery.done": true, "pg_ident.conf": true, "promote": true}
)

// waleMatches lists what partition() collects, in os.walk's top-down order: each directory,
// then its excluded subdirectories, then its files, then the other subdirectories. In
// pg_tblspc, each link to a directory (which os.walk lists among the directories but does not
// follow) is walked through the link, under the data directory's name for it
// ("pg_tblspc/16385/PG_15_.../..."), and the link itself is left out; partition() records it
// in the spec, returned here as OID -> [location with a trailing slash, link path relative to
// the data directory], in the order found.
func waleMatches(t testing.TB, root string) ([]string, []string, map[string][2]string) {
	var out, order []string
	spec := map[string][2]string{}
	var walk func(dir string, top bool)
	walk = func(dir string, top bool) {
		out = append(out, dir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var dirs, links, files []string
		for _, e := range entries {
			switch {
			case e.IsDir():
				dirs = append(dirs, e.Name())
			case e.Type()&os.ModeSymlink != 0:
				if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.IsDir() {
					links = append(links, e.Name()) // a directory to os.walk, never descended
					continue
				}
				files = append(files, e.Name())
			default:
				files = append(files, e.Name())
			}
		}
		var descend []string
		for _, d := range dirs {
			switch {
			case d == "lost+found":
			case top && waleExcludedTop[d], waleExcludedAny[d]:
				out = append(out, filepath.Join(dir, d))
			default:
				descend = append(descend, d)
			}
		}
		for _, f := range files {
			if top && waleSkippedTop[f] {
				continue
			}
			out = append(out, filepath.Join(dir, f))
		}
		if dir == filepath.Join(root, "pg_tblspc") {
			for _, ts := range links {
				tsPath := filepath.Join(dir, ts)
				loc, _ := os.Readlink(tsPath)
				if !strings.HasSuffix(loc, "/") {
					loc += "/"
				}
				if _, seen := spec[ts]; !seen {
					order = append(order, ts)
					spec[ts] = [2]string{loc, strings.TrimPrefix(tsPath, root+"/")}
				}
				out = append(out, waleTablespace(t, tsPath, out)...)
				for i, m := range out {
					if m == tsPath {
						out = append(out[:i], out[i+1:]...)
						break
					}
				}
			}
		}
		for _, d := range descend {
			walk(filepath.Join(dir, d), false)
		}
	}
	walk(root+"/", true)
	return out, order, spec
}

// waleTablespace is partition()'s walk of one tablespace through its link: every file, a
// pgsql_tmp directory without its content, and directories without files (unless listed).
func waleTablespace(t testing.TB, dir string, listed []string) []string {
	var out []string
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var dirs []string
		files := 0
		for _, e := range entries {
			switch {
			case e.IsDir() && e.Name() == "pgsql_tmp":
				out = append(out, filepath.Join(dir, e.Name()))
			case e.IsDir():
				dirs = append(dirs, e.Name())
			default:
				out = append(out, filepath.Join(dir, e.Name()))
				files++
			}
		}
		if files == 0 && !contains(listed, dir) && !contains(out, dir) {
			out = append(out, dir)
		}
		for _, d := range dirs {
			walk(filepath.Join(dir, d))
		}
	}
	walk(dir)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LzopFile compresses src into dst with the real lzop, as WAL-E's pipeline (`lzop --stdout`).
func LzopFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("lzop", "--stdout")
	cmd.Stdin, cmd.Stdout = in, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("lzop %s: %v", src, err)
	}
	out.Close()
}

// waleTar is Python's tarfile for one member list: names relative to the data directory
// ("" for the directory itself, which tarfile writes as "/"; directories end in "/").
func waleTar(t testing.TB, root, file string, paths []string, extra map[string]string) int64 {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	var total int64
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			t.Fatal(err)
		}
		hdr.Name = strings.TrimLeft(strings.TrimPrefix(p, root+"/"), "/")
		if info.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "postgres", "postgres"
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if info.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(tw, io.LimitReader(src, hdr.Size))
			src.Close()
			total += hdr.Size
		}
	}
	for name, body := range extra {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg,
			ModTime: time.Now().Truncate(time.Second), Uname: "postgres", Gname: "postgres"})
		io.WriteString(tw, body)
		total += int64(len(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return total
}

// WALEBackup takes a backup of c the way WAL-E's backup-push does, into the archive directory
// arch. With labelInside, backup_label is a member of the first partition (as with the
// exclusive backups WAL-E makes on PostgreSQL 14 and older, where the server writes it into
// PGDATA); otherwise it is alone in a last partition (a non-exclusive backup, which PostgreSQL
// 15 requires). partMax stands for PARTITION_MAX_SZ (1.5 GiB) so that a small cluster still
// spans several partitions. It returns the backup name, start and stop LSNs.
func WALEBackup(t testing.TB, c Source, arch string, labelInside bool, partMax int64) (string, string, string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, c)
	label := "freeze_start_" + time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	var file, offset, startLSN string
	if err := conn.QueryRow(ctx, "SELECT file_name, lpad(file_offset::text, 8, '0') AS file_offset, lsn::text FROM pg_backup_start($1, true) lsn, pg_walfile_name_offset(lsn)",
		label).Scan(&file, &offset, &startLSN); err != nil {
		t.Fatal(err)
	}
	var version string
	conn.QueryRow(ctx, "SELECT * FROM version()").Scan(&version)
	prefix := filepath.Join(arch, "basebackups_005", "base_"+file+"_"+offset)
	parts := filepath.Join(prefix, "tar_partitions")
	os.MkdirAll(parts, 0o755)
	os.WriteFile(filepath.Join(prefix, "extended_version.txt"), []byte(version), 0o644)

	// _segmentation_guts: members in order, a new partition before one that would reach partMax.
	matches, tsOrder, tsSpec := waleMatches(t, c.DataDir)
	var groups [][]string
	var cur []string
	var bytes int64
	for _, m := range matches {
		info, err := os.Lstat(m)
		if err != nil {
			continue
		}
		size := int64(0)
		if info.Mode().IsRegular() {
			size = info.Size()
		}
		if bytes+size >= partMax && len(cur) > 0 {
			groups = append(groups, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, m)
		bytes += size
	}
	groups = append(groups, cur)
	tmp := t.TempDir()
	tars := make([]string, len(groups))
	var expanded int64
	for i, g := range groups {
		tars[i] = filepath.Join(tmp, fmt.Sprintf("part_%08d.tar", i))
		if i > 0 || !labelInside {
			expanded += waleTar(t, c.DataDir, tars[i], g, nil)
		}
	}
	var labelText, stopFile, stopOffset, stopLSN string
	if err := conn.QueryRow(ctx, "WITH s AS (SELECT * FROM pg_backup_stop(true)) SELECT s.labelfile, f.file_name, lpad(f.file_offset::text, 8, '0'), s.lsn::text FROM s, pg_walfile_name_offset(s.lsn) f").
		Scan(&labelText, &stopFile, &stopOffset, &stopLSN); err != nil {
		t.Fatal(err)
	}
	if labelInside {
		expanded += waleTar(t, c.DataDir, tars[0], groups[0], map[string]string{"backup_label": labelText})
	} else {
		p := filepath.Join(tmp, fmt.Sprintf("part_%08d.tar", len(groups)))
		expanded += waleTar(t, c.DataDir, p, nil, map[string]string{"backup_label": labelText})
		tars = append(tars, p)
	}
	for _, p := range tars {
		LzopFile(t, p, filepath.Join(parts, filepath.Base(p)+".lzo"))
	}
	// json.dumps of the dict, Python's default separators.
	// The spec as partition() builds it: {"base_prefix", "tablespaces": [OID...], OID: {"loc",
	// "link"}...}, keys in insertion order.
	tsList, tsEntries := "[]", ""
	if len(tsOrder) > 0 {
		quoted := make([]string, len(tsOrder))
		for i, ts := range tsOrder {
			quoted[i] = fmt.Sprintf("%q", ts)
			tsEntries += fmt.Sprintf(`, %q: {"loc": %q, "link": %q}`, ts, tsSpec[ts][0], tsSpec[ts][1])
		}
		tsList = "[" + strings.Join(quoted, ", ") + "]"
	}
	sentinel := fmt.Sprintf(`{"wal_segment_backup_stop": %q, "wal_segment_offset_backup_stop": %q, "expanded_size_bytes": %d, "spec": {"base_prefix": %q, "tablespaces": %s%s}}`,
		stopFile, stopOffset, expanded, c.DataDir+"/", tsList, tsEntries)
	if err := os.WriteFile(prefix+"_backup_stop_sentinel.json", []byte(sentinel), 0o644); err != nil {
		t.Fatal(err)
	}
	return "base_" + file + "_" + offset, startLSN, stopLSN
}

// CopyWAL fills arch/wal_005 from the plain copies in raw: with lzop for WAL-E, with WAL-G's
// compressors otherwise (methods used in turn, so one archive mixes them).
func CopyWAL(t testing.TB, raw, arch string, methods ...string) {
	t.Helper()
	dir := filepath.Join(arch, "wal_005")
	os.MkdirAll(dir, 0o755)
	entries, err := os.ReadDir(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		src := filepath.Join(raw, e.Name())
		method := methods[i%len(methods)]
		if method == "lzo" {
			LzopFile(t, src, filepath.Join(dir, e.Name()+".lzo"))
			continue
		}
		in, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(dir, e.Name()+".tmp"))
		zw, ext := walgCompress(t, method, out)
		io.Copy(zw, in)
		zw.Close()
		out.Close()
		in.Close()
		final := filepath.Join(dir, e.Name())
		if ext != "" {
			final += "." + ext
		}
		os.Rename(out.Name(), final)
	}
}

// UploadTree copies a fixture directory into a store, object by object, under the names the
// view gives them (WAL-E's leading-slash names through store.LeadingSlash).
func UploadTree(t testing.TB, dir string, s store.Store) {
	t.Helper()
	ctx := context.Background()
	var sentinels []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasSuffix(rel, "_backup_stop_sentinel.json") {
			sentinels = append(sentinels, rel) // last, as the tools upload them
			return nil
		}
		return putFile(ctx, s, filepath.ToSlash(rel), p)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range sentinels {
		if err := putFile(ctx, s, filepath.ToSlash(rel), filepath.Join(dir, rel)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeJSON(t testing.TB, p string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Under puts every name under folder/ of a store (for UploadTree of one folder).
func Under(s store.Store, folder string) store.Store { return prefixed{s, folder + "/"} }

type prefixed struct {
	store.Store
	p string
}

func (p prefixed) Put(ctx context.Context, name string, r io.Reader) error {
	return p.Store.Put(ctx, p.p+name, r)
}

// putFile uploads a file, retrying a few times as the tools do: a Swift all-in-one server
// answers 503 for a moment after it started.
func putFile(ctx context.Context, s store.Store, name, path string) error {
	var err error
	for try := 0; try < 5; try++ {
		if try > 0 {
			time.Sleep(time.Duration(try) * time.Second)
		}
		var f *os.File
		if f, err = os.Open(path); err != nil {
			return err
		}
		err = s.Put(ctx, name, f)
		f.Close()
		if err == nil {
			return nil
		}
	}
	return err
}
