package wal

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

func TestClassify(t *testing.T) {
	cases := map[string]Kind{
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
		if got := Classify(name); got != want {
			t.Errorf("Classify(%q) = %d, want %d", name, got, want)
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

func TestParseLSN(t *testing.T) {
	l, err := ParseLSN("16/B374D848")
	if err != nil || l != 0x16B374D848 || l.String() != "16/B374D848" {
		t.Errorf("ParseLSN = %v (%s), %v", uint64(l), l, err)
	}
	for _, bad := range []string{"", "16", "x/1", "g/1", "1/1/1", "1/100000000"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

func TestNeedsRewind(t *testing.T) {
	tl := Timeline{TLI: 3, History: []HistoryEntry{{TLI: 1, SwitchLSN: 1000}, {TLI: 2, SwitchLSN: 5000}}}
	cases := []struct {
		tli  uint32
		lsn  LSN
		want bool
	}{
		{3, 9999, false}, // same timeline
		{1, 1000, false}, // exactly at the fork
		{1, 999, false},
		{1, 1001, true}, // past the fork on the old line
		{2, 4000, false},
		{2, 6000, true},
		{4, 1, true}, // a timeline the primary never had
	}
	for _, c := range cases {
		if got := tl.NeedsRewind(c.tli, c.lsn); got != c.want {
			t.Errorf("NeedsRewind(%d, %d) = %v, want %v", c.tli, c.lsn, got, c.want)
		}
	}
	if !(Timeline{TLI: 2}).NeedsRewind(1, 5) {
		t.Error("an older timeline with no history of it must be rewound")
	}
}
