package archive_test

// A WAL-G-format reader and writer written from the layout reference alone (not from our
// engine's code), to check that both sides agree on names, framing and sentinel fields.

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var walgBackupName = regexp.MustCompile(`^base_[0-9A-F]{24}(_D_[0-9A-F]{24})?(_[0-9A-F]{8})?$`)

func walgDecompress(t *testing.T, name string, r io.Reader) io.Reader {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".lz4"):
		return lz4.NewReader(r)
	case strings.HasSuffix(name, ".zst"):
		d, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return r
}

// walgFetchLatest does what `wal-g backup-fetch DIR LATEST` does, from the reference: the
// newest sentinel by modification time, mandatory sentinel fields, files_metadata.json for
// Version 2, parts in any order, then pg_control.tar, then backup_label.tar.
func walgFetchLatest(t *testing.T, arch, dir string) string {
	t.Helper()
	bdir := filepath.Join(arch, "basebackups_005")
	entries, err := os.ReadDir(bdir)
	if err != nil {
		t.Fatal(err)
	}
	var latest string
	var latestMod time.Time
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), "_backup_stop_sentinel.json")
		if !ok {
			continue
		}
		if !walgBackupName.MatchString(n) {
			t.Errorf("backup name %q does not match WAL-G's pattern", n)
		}
		info, _ := e.Info()
		if info.ModTime().After(latestMod) {
			latest, latestMod = n, info.ModTime()
		}
	}
	if latest == "" {
		t.Fatal("no sentinel")
	}
	raw, err := os.ReadFile(filepath.Join(bdir, latest+"_backup_stop_sentinel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sentinel map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sentinel); err != nil {
		t.Fatalf("sentinel is not JSON: %v", err)
	}
	for _, field := range []string{"LSN", "FinishLSN", "PgVersion", "SystemIdentifier", "UncompressedSize", "CompressedSize"} {
		v, ok := sentinel[field]
		if !ok {
			t.Errorf("sentinel lacks %s", field)
			continue
		}
		if _, err := strconv.ParseUint(string(v), 10, 64); err != nil {
			t.Errorf("sentinel %s = %s, want a JSON number", field, v)
		}
	}
	if string(sentinel["Version"]) != "2" {
		t.Errorf("sentinel Version = %s, want 2", sentinel["Version"])
	}
	for _, field := range []string{"StartTime", "FinishTime"} {
		var ts time.Time
		if err := json.Unmarshal(sentinel[field], &ts); err != nil || ts.IsZero() {
			t.Errorf("sentinel %s = %s: %v", field, sentinel[field], err)
		}
	}
	// The start LSN's segment is the name (on a primary).
	lsn, _ := strconv.ParseUint(string(sentinel["LSN"]), 10, 64)
	if want := fmt.Sprintf("%08X%08X", lsn>>32, (lsn&0xFFFFFFFF)>>24); !strings.HasSuffix(latest, want) {
		t.Errorf("backup %s does not name the segment of its LSN %X (%s)", latest, lsn, want)
	}
	// Version 2 makes files_metadata.json mandatory; metadata.json is plain JSON too.
	for _, f := range []string{"files_metadata.json", "metadata.json"} {
		b, err := os.ReadFile(filepath.Join(bdir, latest, f))
		if err != nil || !json.Valid(b) {
			t.Errorf("%s: %v", f, err)
		}
	}

	parts, _ := filepath.Glob(filepath.Join(bdir, latest, "tar_partitions", "part_*.tar.lz4"))
	if len(parts) == 0 {
		t.Fatal("no part_NNN.tar.lz4")
	}
	for _, p := range parts {
		if !regexp.MustCompile(`part_\d{3,}\.tar\.lz4$`).MatchString(p) {
			t.Errorf("part name %s", p)
		}
	}
	os.MkdirAll(dir, 0o700)
	for _, p := range parts {
		walgExtract(t, p, dir, true)
	}
	walgExtract(t, filepath.Join(bdir, latest, "tar_partitions", "pg_control.tar.lz4"), dir, true)
	walgExtract(t, filepath.Join(bdir, latest, "tar_partitions", "backup_label.tar.lz4"), dir, false)
	for _, d := range []string{"pg_wal", "pg_wal/archive_status"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			t.Errorf("%s not restored as a directory", d)
		}
	}
	return latest
}

func walgExtract(t *testing.T, file, dir string, slashNames bool) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(walgDecompress(t, file, f))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if slashNames != strings.HasPrefix(h.Name, "/") {
			t.Errorf("%s: member %q (want leading slash: %v)", file, h.Name, slashNames)
		}
		p := filepath.Join(dir, path.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o700)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o700)
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(out, tr)
			out.Close()
		}
	}
}

// walgCheckWAL checks that every WAL object is named and framed as WAL-G writes them.
func walgCheckWAL(t *testing.T, arch string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(arch, "wal_005"))
	seg := regexp.MustCompile(`^[0-9A-F]{24}\.lz4$`)
	hist := regexp.MustCompile(`^([0-9A-F]{8}\.history|[0-9A-F]{24}\.[0-9A-F]{8}\.backup)\.lz4$`)
	n := 0
	for _, e := range entries {
		switch {
		case seg.MatchString(e.Name()):
			f, _ := os.Open(filepath.Join(arch, "wal_005", e.Name()))
			b, err := io.ReadAll(lz4.NewReader(f))
			f.Close()
			if err != nil || len(b) != 16<<20 {
				t.Errorf("%s: %d bytes, %v", e.Name(), len(b), err)
				continue
			}
			tli := binary.LittleEndian.Uint32(b[4:])
			addr := binary.LittleEndian.Uint64(b[8:])
			if got := fmt.Sprintf("%08X%08X%08X", tli, addr>>32, (addr&0xFFFFFFFF)>>24); got+".lz4" != e.Name() {
				t.Errorf("%s holds segment %s", e.Name(), got)
			}
			n++
		case hist.MatchString(e.Name()), strings.HasPrefix(e.Name(), "."):
		default:
			t.Errorf("unexpected WAL object %s", e.Name())
		}
	}
	if n == 0 {
		t.Error("no WAL segments archived")
	}
}

// buildWALGFixture turns a pg_basebackup tar backup plus our archived WAL into an archive in
// WAL-G's layout, written with the compression libraries' defaults: parts as lz4, the WAL in a
// mix of lz4, zstd and uncompressed objects, a Version 2 sentinel and metadata.
func buildWALGFixture(t *testing.T, bbDir, ourArch, fixture string) {
	t.Helper()
	labelText, err := tarMember(filepath.Join(bbDir, "base.tar"), "backup_label")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`START WAL LOCATION: ([0-9A-F]+)/([0-9A-F]+) \(file ([0-9A-F]{24})\)`).FindStringSubmatch(labelText)
	if m == nil {
		t.Fatalf("backup_label: %s", labelText)
	}
	hi, _ := strconv.ParseUint(m[1], 16, 32)
	lo, _ := strconv.ParseUint(m[2], 16, 32)
	startLSN := hi<<32 | lo
	startSeg := m[3]
	var manifest struct {
		WALRanges []struct {
			EndLSN string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	mb, _ := os.ReadFile(filepath.Join(bbDir, "backup_manifest"))
	if err := json.Unmarshal(mb, &manifest); err != nil || len(manifest.WALRanges) == 0 {
		t.Fatalf("backup_manifest: %v", err)
	}
	var ehi, elo uint64
	fmt.Sscanf(manifest.WALRanges[0].EndLSN, "%X/%X", &ehi, &elo)
	finishLSN := ehi<<32 | elo

	name := "base_" + startSeg
	folder := filepath.Join(fixture, "basebackups_005", name, "tar_partitions")
	os.MkdirAll(folder, 0o755)
	newLZ4Tar := func(file string) (*tar.Writer, func()) {
		f, err := os.Create(filepath.Join(folder, file))
		if err != nil {
			t.Fatal(err)
		}
		zw := lz4.NewWriter(f)
		tw := tar.NewWriter(zw)
		return tw, func() { tw.Close(); zw.Close(); f.Close() }
	}
	part, closePart := newLZ4Tar("part_001.tar.lz4")
	control, closeControl := newLZ4Tar("pg_control.tar.lz4")
	label, closeLabel := newLZ4Tar("backup_label.tar.lz4")
	f, err := os.Open(filepath.Join(bbDir, "base.tar"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bufio.NewReader(f))
	var size int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := part
		switch strings.TrimSuffix(h.Name, "/") {
		case "backup_label", "tablespace_map":
			dst = label
		case "global/pg_control":
			dst = control
			h.Name = "/" + h.Name
		default:
			h.Name = "/" + h.Name
		}
		size += h.Size
		dst.WriteHeader(h)
		io.Copy(dst, tr)
	}
	f.Close()
	closePart()
	closeControl()
	closeLabel()

	sysid := binary.LittleEndian.Uint64(mustRead(t, filepath.Join(ourArch, "..", "primary", "global", "pg_control"))[:8])
	now := time.Now().UTC()
	sentinel := map[string]any{
		"LSN": startLSN, "FinishLSN": finishLSN, "PgVersion": 150000, "SystemIdentifier": sysid,
		"UncompressedSize": size, "CompressedSize": size, "DataCatalogSize": size,
		"Spec":     map[string]any{"base_prefix": "/var/lib/postgresql/15/main", "tablespaces": []string{}},
		"UserData": nil, "Version": 2, "StartTime": now.Add(-time.Minute), "FinishTime": now,
		"DateFmt": "%Y-%m-%dT%H:%M:%S.%fZ", "Hostname": "walg-host", "DataDir": "/var/lib/postgresql/15/main", "IsPermanent": false,
	}
	writeJSON(t, filepath.Join(fixture, "basebackups_005", name, "metadata.json"), map[string]any{
		"start_time": now.Add(-time.Minute), "finish_time": now, "date_fmt": "%Y-%m-%dT%H:%M:%S.%fZ", "hostname": "walg-host",
		"data_dir": "/var/lib/postgresql/15/main", "pg_version": 150000, "start_lsn": startLSN, "finish_lsn": finishLSN,
		"is_permanent": false, "system_identifier": sysid, "uncompressed_size": size, "compressed_size": size, "user_data": nil})
	writeJSON(t, filepath.Join(fixture, "basebackups_005", name, "files_metadata.json"), map[string]any{
		"Files": map[string]any{}, "TarFileSets": map[string]any{}, "DatabasesByNames": map[string]any{}})
	writeJSON(t, filepath.Join(fixture, "basebackups_005", name+"_backup_stop_sentinel.json"), sentinel)

	// WAL from the backup's start segment on, re-encoded three ways.
	walDir := filepath.Join(fixture, "wal_005")
	os.MkdirAll(walDir, 0o755)
	entries, _ := os.ReadDir(filepath.Join(ourArch, "wal_005"))
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".lz4")
		if ok && len(n) == 24 && n >= startSeg {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("too little WAL for the fixture: %v", names)
	}
	for i, n := range names {
		src, err := os.Open(filepath.Join(ourArch, "wal_005", n+".lz4"))
		if err != nil {
			t.Fatal(err)
		}
		plain := lz4.NewReader(src)
		var out *os.File
		switch i % 3 {
		case 0:
			out, _ = os.Create(filepath.Join(walDir, n+".zst"))
			zw, _ := zstd.NewWriter(out)
			io.Copy(zw, plain)
			zw.Close()
		case 1:
			out, _ = os.Create(filepath.Join(walDir, n))
			io.Copy(out, plain)
		default:
			out, _ = os.Create(filepath.Join(walDir, n+".lz4"))
			zw := lz4.NewWriter(out)
			io.Copy(zw, plain)
			zw.Close()
		}
		out.Close()
		src.Close()
	}
}

func tarMember(file, name string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("%s in %s: %w", name, file, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(t *testing.T, p string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
