package archive

import (
	"testing"

	"github.com/pgcharm/postgresql/internal/wal"
)

func TestSplitExt(t *testing.T) {
	cases := [][3]string{
		{"000000010000000000000003.lz4", "000000010000000000000003", "lz4"},
		{"000000010000000000000003.zst", "000000010000000000000003", "zst"},
		{"000000010000000000000003", "000000010000000000000003", ""},
		{"00000002.history.lz4", "00000002.history", "lz4"},
		{"00000002.history", "00000002.history", ""},
		{"000000010000000000000003.partial.br", "000000010000000000000003.partial", "br"},
		{"part_001.tar.lz4", "part_001.tar", "lz4"},
		{"part_001.tar", "part_001.tar", ""},
		{"000000010000000000000003.json", "000000010000000000000003.json", ""},
	}
	for _, c := range cases {
		n, e := SplitExt(c[0])
		if n != c[1] || e != c[2] {
			t.Errorf("SplitExt(%q) = %q, %q; want %q, %q", c[0], n, e, c[1], c[2])
		}
	}
}

func TestParseBackupName(t *testing.T) {
	good := map[string]string{
		"base_000000010000000000000002":                                     "000000010000000000000002",
		"base_000000020000000300000004_D_000000010000000000000002":          "000000020000000300000004",
		"base_000000010000000000000002_00000040":                            "000000010000000000000002",
		"base_000000010000000000000002_D_000000010000000000000001_00000028": "000000010000000000000002",
	}
	for name, seg := range good {
		s, err := ParseBackupName(name)
		if err != nil || s.Name() != seg {
			t.Errorf("ParseBackupName(%q) = %v, %v", name, s, err)
		}
	}
	for _, bad := range []string{"base_", "base_00000001000000000000000", "backup_000000010000000000000002", "base_000000010000000000000002_x"} {
		if _, err := ParseBackupName(bad); err == nil {
			t.Errorf("ParseBackupName(%q) accepted", bad)
		}
	}
}

func TestSegmentHeader(t *testing.T) {
	b := make([]byte, 40)
	copy(b, []byte{0x10, 0xD1, 0x02, 0x00, 0x02, 0, 0, 0})
	// pageaddr 0/3000000, sysid 0x0102030405060708, seg size 16 MiB, block 8192
	putLE(b[8:], 0x3000000)
	putLE(b[24:], 0x0102030405060708)
	putLE32(b[32:], 16<<20)
	putLE32(b[36:], 8192)
	h, err := ParseSegmentHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.SysID != 0x0102030405060708 || h.TLI != 2 || h.PageAddr != 0x3000000 || h.Magic != 0xD110 {
		t.Errorf("header %+v", h)
	}
	if err := checkSegmentHead(wal.Segment{TLI: 2, SegNo: 3}, b, int64(wal.SegmentSize)); err != nil {
		t.Errorf("valid head rejected: %v", err)
	}
	if err := checkSegmentHead(wal.Segment{TLI: 2, SegNo: 4}, b, int64(wal.SegmentSize)); err == nil {
		t.Error("head of segment 3 accepted as segment 4")
	}
	if err := checkSegmentHead(wal.Segment{TLI: 1, SegNo: 3}, b, int64(wal.SegmentSize)); err == nil {
		t.Error("timeline mismatch accepted")
	}
	// A restore that forked timeline 3 inside segment 3: that segment's file on timeline 3
	// begins as a copy of timeline 2's, whose first page header it keeps.
	if err := checkSegmentHead(wal.Segment{TLI: 3, SegNo: 3}, b, int64(wal.SegmentSize)); err != nil {
		t.Errorf("first segment of a new timeline rejected: %v", err)
	}
	if err := checkSegmentHead(wal.Segment{TLI: 2, SegNo: 3}, b, int64(wal.SegmentSize)-1); err == nil {
		t.Error("short segment accepted")
	}
	b[2] = 0 // no long header flag
	if _, err := ParseSegmentHeader(b); err == nil {
		t.Error("page without long header accepted")
	}
	if _, err := ParseSegmentHeader(make([]byte, 40)); err == nil {
		t.Error("zero page accepted")
	}
}

func putLE(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func putLE32(b []byte, v uint32) {
	for i := range 4 {
		b[i] = byte(v >> (8 * i))
	}
}
