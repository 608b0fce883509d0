package plan

import "testing"

func TestParseHistory(t *testing.T) {
	h, err := ParseHistory("1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tat restore point \"x\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0] != (Fork{1, 0x3000158}) || h[1] != (Fork{2, 0x5000000}) {
		t.Fatalf("got %+v", h)
	}
	for _, bad := range []string{"1\n", "x\t0/1\n", "1\tzz\n"} {
		if _, err := ParseHistory(bad); err == nil {
			t.Errorf("ParseHistory(%q) accepted", bad)
		}
	}
}

func TestLSN(t *testing.T) {
	l, err := ParseLSN("16/B374D848")
	if err != nil || l != 0x16B374D848 || FormatLSN(l) != "16/B374D848" {
		t.Fatalf("%x %v %s", l, err, FormatLSN(l))
	}
	for _, bad := range []string{"", "16", "g/1", "1/1/1"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

func TestNeedsRewind(t *testing.T) {
	h := []Fork{{1, 1000}, {2, 5000}} // primary on timeline 3
	cases := []struct {
		tli  uint32
		lsn  uint64
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
		if got := NeedsRewind(c.tli, c.lsn, 3, h); got != c.want {
			t.Errorf("NeedsRewind(%d, %d) = %v, want %v", c.tli, c.lsn, got, c.want)
		}
	}
	if !NeedsRewind(1, 5, 2, nil) {
		t.Error("an older timeline with no history of it must be rewound")
	}
}
