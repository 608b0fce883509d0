package archive

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

// forkedArchive is an archive after a point-in-time restore into it: timeline 1 has backups
// b1, b2 before the restore target (0/5800000, in segment 5) and b3, b4 after it (the old
// database went on), then timeline 2 forked at the target and took nightly backups b5, b6.
// By WAL position b3 and b4 are the newest; on the live history b5 and b6 are.
func forkedArchive(t *testing.T) (*Archive, time.Time) {
	day := 24 * time.Hour
	at := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(day))) }
	backups := []Backup{
		bk("base_000000010000000000000002", 0x2000028, 0x2000100, at(0)),
		bk("base_000000010000000000000004", 0x4000028, 0x4000100, at(1)),
		bk("base_000000010000000000000008", 0x8000028, 0x8000100, at(2)),
		bk("base_00000001000000000000000A", 0xA000028, 0xA000100, at(3)),
		bk("base_000000020000000000000006", 0x6000028, 0x6000100, at(5)),
		bk("base_000000020000000000000007", 0x7000028, 0x7000100, at(6)),
	}
	var segs []string
	for n := 1; n <= 0xA; n++ {
		segs = append(segs, wal.Segment{TLI: 1, SegNo: uint64(n)}.Name())
	}
	for n := 5; n <= 8; n++ {
		segs = append(segs, wal.Segment{TLI: 2, SegNo: uint64(n)}.Name())
	}
	hist := map[string]string{"00000002.history": "1\t0/5800000\tafter a restore\n"}
	return synthetic(t, backups, walKeys(segs...), hist), at(6).Add(time.Hour)
}

func names(bs []Backup) string {
	var n []string
	for _, b := range bs {
		n = append(n, strings.TrimPrefix(b.Name, "base_"))
	}
	slices.Sort(n)
	return strings.Join(n, " ")
}

// Retention used to sort every backup by start LSN across timelines and cut WAL on every
// timeline: after the fork, retain 2 kept the old branch's b3, b4 and deleted the live
// timeline's nightly backups and all its WAL.
func TestRetentionFollowsTheCurrentTimeline(t *testing.T) {
	ctx := context.Background()
	a, now := forkedArchive(t)
	plan, err := a.PlanDelete(ctx, DeleteRequest{Retain: 2, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(plan.Keep), "000000020000000000000006 000000020000000000000007"; got != want {
		t.Errorf("retain 2 keeps %s, want the live timeline's newest two: %s", got, want)
	}
	if plan.Timeline != 2 || !plan.OffHistory["base_000000010000000000000008"] || plan.OffHistory["base_000000010000000000000004"] {
		t.Errorf("timeline %d, off history %v", plan.Timeline, plan.OffHistory)
	}
	for _, o := range plan.Objects {
		if strings.HasPrefix(o, WALFolder+"00000002") && !strings.HasSuffix(o, "000000020000000000000005.lz4") {
			t.Errorf("the live timeline's WAL from its oldest kept backup on would go: %s", o)
		}
	}
	if plan.WALCutoff != 6 {
		t.Errorf("WAL cutoff %X, want 6 (the oldest kept backup's start)", plan.WALCutoff)
	}
	// Fewer live backups than retain: the old branch stays too.
	plan, _ = a.PlanDelete(ctx, DeleteRequest{Retain: 3, Now: now})
	if got := names(plan.Drop); got != "000000010000000000000002" {
		t.Errorf("retain 3 drops %s, want only b1 (b3, b4 are newer than the oldest kept, b2)", got)
	}
	if _, err := a.Delete(ctx, DeleteRequest{Retain: 2, Confirm: true, Now: now}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// What is left restores to the end of timeline 2.
	rp, err := a.PlanRestore(ctx, RestoreRequest{Binary: "/bin/true"})
	if err != nil || rp.Backup.Name != "base_000000020000000000000007" {
		t.Errorf("restore after retention: %v %v", rp.Backup.Name, err)
	}
	// The live timeline's WAL from the oldest kept backup on is complete (the synthetic
	// backups' files are placeholders, so only the WAL part of verify applies).
	r, err := a.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.Print(&b)
	if !strings.Contains(b.String(), "segments 000000020000000000000006 .. 000000020000000000000008: 3 expected, 0 missing") {
		t.Errorf("verify after retention:\n%s", b.String())
	}
}

// Issue 17 item 4: retention by age keeps every backup younger than N days plus the newest
// older one on the history (PITR to exactly N days ago); with a count too, a backup goes only
// when both allow it. The dry run lists what would go and deletes nothing.
func TestRetentionByAge(t *testing.T) {
	ctx := context.Background()
	a, now := forkedArchive(t)
	cases := []struct {
		req  DeleteRequest
		drop string
	}{
		// b5 (1 day 1 hour old) and b6 are younger than 2 days; b2 is the newest older one on
		// the history; b3, b4 are off it and older.
		{DeleteRequest{RetainDays: 2}, "000000010000000000000002 000000010000000000000008 00000001000000000000000A"},
		{DeleteRequest{RetainDays: 2, Retain: 2}, "000000010000000000000002 000000010000000000000008 00000001000000000000000A"},
		{DeleteRequest{RetainDays: 2, Retain: 3}, "000000010000000000000002"},
		{DeleteRequest{RetainDays: 10, Retain: 1}, ""},
		{DeleteRequest{RetainDays: 1}, "000000010000000000000002 000000010000000000000004 000000010000000000000008 00000001000000000000000A"},
	}
	for _, c := range cases {
		c.req.Now = now
		plan, err := a.PlanDelete(ctx, c.req)
		if err != nil {
			t.Fatalf("%+v: %v", c.req, err)
		}
		if got := names(plan.Drop); got != c.drop {
			t.Errorf("retain %d, retain-days %d: drops %q, want %q", c.req.Retain, c.req.RetainDays, got, c.drop)
		}
	}
	var out bytes.Buffer
	if _, err := a.Delete(ctx, DeleteRequest{RetainDays: 2, Now: now}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would delete base_000000010000000000000008 (finished ") ||
		!strings.Contains(out.String(), "off timeline 2's history") || !strings.Contains(out.String(), "dry run") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	if l, _ := a.ListBackups(ctx); len(l) != 6 {
		t.Errorf("the dry run deleted: %d backups left", len(l))
	}
	if _, _, err := SelectRetained(nil, DeleteRequest{RetainDays: -1}); err == nil {
		t.Error("negative retain-days accepted")
	}
}
