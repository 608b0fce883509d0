package archive

import (
	"strings"
	"testing"
)

func TestSegmentNames(t *testing.T) {
	cases := []struct {
		tli  uint32
		lsn  string
		name string
	}{
		{1, "0/0", "000000010000000000000000"},
		{1, "0/1000000", "000000010000000000000001"},
		{1, "0/3000028", "000000010000000000000003"},
		{1, "0/FFFFFFFF", "0000000100000000000000FF"},
		{1, "1/0", "000000010000000100000000"},
		{2, "1/FF000000", "0000000200000001000000FF"},
		{0x1A, "ABCD/12345678", "0000001A0000ABCD00000012"},
	}
	for _, c := range cases {
		lsn, err := ParseLSN(c.lsn)
		if err != nil {
			t.Fatal(err)
		}
		seg := SegmentOf(c.tli, lsn)
		if got := seg.Name(); got != c.name {
			t.Errorf("SegmentOf(%d, %s) = %s, want %s", c.tli, c.lsn, got, c.name)
		}
		back, err := ParseSegment(c.name)
		if err != nil || back != seg {
			t.Errorf("ParseSegment(%s) = %v, %v; want %v", c.name, back, err, seg)
		}
		if lsn.String() != strings.ToUpper(c.lsn) {
			t.Errorf("LSN round trip %s -> %s", c.lsn, lsn)
		}
	}
	// Crossing a log boundary: 0xFF -> next log.
	s, _ := ParseSegment("0000000100000000000000FF")
	if n := s.Next().Name(); n != "000000010000000100000000" {
		t.Errorf("next of ...FF = %s", n)
	}
	if s.StartLSN().String() != "0/FF000000" {
		t.Errorf("start of ...FF = %s", s.StartLSN())
	}
}

func TestParseSegmentRejects(t *testing.T) {
	for _, bad := range []string{"", "00000001000000000000000", "0000000100000000000000001", "00000001000000000000010G",
		"000000010000000000000100", // segment part beyond 0xFF for 16 MiB segments
		"000000000000000000000001", // timeline 0
		"00000001000000000000000a", // lower case
	} {
		if _, err := ParseSegment(bad); err == nil {
			t.Errorf("ParseSegment(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "0", "0/", "/0", "G/0", "100000000/0", "0/100000000"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

func TestClassifyWAL(t *testing.T) {
	cases := map[string]WALKind{
		"000000010000000000000003":                 KindSegment,
		"00000002.history":                         KindHistory,
		"000000010000000000000003.partial":         KindPartial,
		"000000010000000000000003.00000028.backup": KindBackup,
		"000000010000000000000003.lz4":             KindOther,
		"RECOVERYXLOG":                             KindOther,
		"00000002.HISTORY":                         KindOther,
		"000000010000000000000100":                 KindOther,
	}
	for name, want := range cases {
		if got := ClassifyWAL(name); got != want {
			t.Errorf("ClassifyWAL(%q) = %d, want %d", name, got, want)
		}
	}
}

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

const history3 = `1	0/3000000	no recovery target specified

2	0/5A00000	before 2026-11-24 07:00:00+00
`

func TestParseHistory(t *testing.T) {
	h, err := ParseHistory(strings.NewReader("# comment\n" + history3))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].TLI != 1 || h[0].SwitchLSN != 0x3000000 || h[1].TLI != 2 || h[1].SwitchLSN != 0x5A00000 {
		t.Fatalf("parsed %+v", h)
	}
	if h[0].Reason != "no recovery target specified" {
		t.Errorf("reason %q", h[0].Reason)
	}
	for _, bad := range []string{"x\t0/1\n", "1\n", "1\tzz\n", "2\t0/5\n1\t0/6\n", "1\t0/6\n2\t0/5\n", "0\t0/1\n"} {
		if _, err := ParseHistory(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseHistory(%q) accepted", bad)
		}
	}
	if h, err := ParseHistory(strings.NewReader("")); err != nil || len(h) != 0 {
		t.Errorf("empty history: %v %v", h, err)
	}
}

func TestTimelineContainsAndSegments(t *testing.T) {
	h, _ := ParseHistory(strings.NewReader(history3))
	tl := Timeline{TLI: 3, History: h}
	contains := []struct {
		tli  uint32
		lsn  LSN
		want bool
	}{
		{1, 0x2000000, true},
		{1, 0x3000000, true}, // exactly at the switch: still timeline 1's past
		{1, 0x3000001, false},
		{2, 0x4000000, true},
		{2, 0x5A00000, true},
		{2, 0x5A00001, false},
		{2, 0x1000000, false}, // before timeline 2 began
		{3, 0x6000000, true},
		{4, 0x6000000, false},
	}
	for _, c := range contains {
		if got := tl.Contains(c.tli, c.lsn); got != c.want {
			t.Errorf("Contains(%d, %s) = %v, want %v", c.tli, c.lsn, got, c.want)
		}
	}
	segs := tl.SegmentsBetween(0x1000000, 7)
	var names []string
	for _, s := range segs {
		names = append(names, s.Name())
	}
	want := []string{
		"000000010000000000000001", "000000010000000000000002",
		"000000020000000000000003", "000000020000000000000004",
		"000000030000000000000005", "000000030000000000000006", "000000030000000000000007",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("segments\n got %v\nwant %v", names, want)
	}
	// Timeline 1 without history: everything is its own.
	if got := (Timeline{TLI: 1}).TimelineOfSegment(99); got != 1 {
		t.Errorf("timeline of segment on TL1 = %d", got)
	}
	// Two switches inside one segment: the newest timeline serves it.
	tl2 := Timeline{TLI: 3, History: []HistoryEntry{{1, 0x3000100, ""}, {2, 0x3000200, ""}}}
	if got := tl2.TimelineOfSegment(3); got != 3 {
		t.Errorf("segment with two switches from timeline %d, want 3", got)
	}
	if got := tl2.TimelineOfSegment(2); got != 1 {
		t.Errorf("segment before switches from timeline %d, want 1", got)
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
	if err := checkSegmentHead(Segment{2, 3}, b, int64(SegmentSize)); err != nil {
		t.Errorf("valid head rejected: %v", err)
	}
	if err := checkSegmentHead(Segment{2, 4}, b, int64(SegmentSize)); err == nil {
		t.Error("head of segment 3 accepted as segment 4")
	}
	if err := checkSegmentHead(Segment{1, 3}, b, int64(SegmentSize)); err == nil {
		t.Error("timeline mismatch accepted")
	}
	// A restore that forked timeline 3 inside segment 3: that segment's file on timeline 3
	// begins as a copy of timeline 2's, whose first page header it keeps.
	if err := checkSegmentHead(Segment{3, 3}, b, int64(SegmentSize)); err != nil {
		t.Errorf("first segment of a new timeline rejected: %v", err)
	}
	if err := checkSegmentHead(Segment{2, 3}, b, int64(SegmentSize)-1); err == nil {
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
