package archive

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Gap is a run of missing segments.
type Gap struct {
	First, Last wal.Segment
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Timeline  wal.Timeline // the newest timeline, whose history is checked
	From      wal.Segment  // first segment checked (the oldest backup's start)
	To        wal.Segment  // newest archived segment on that history
	Checked   int          // segments expected
	Gaps      []Gap        // missing runs on the newest timeline's history
	OffBranch []string     // backups on other branches, with their own gaps checked below
	Other     []Gap        // gaps inside off-branch backups' own ranges
	Problems  []string     // other findings (missing history files)
	// Backups holds, per backup (oldest first), whether its tar objects are there and open.
	Backups []BackupCheck
}

// OK says whether nothing is missing.
func (r VerifyReport) OK() bool {
	for _, b := range r.Backups {
		if len(b.Problems) > 0 {
			return false
		}
	}
	return len(r.Gaps) == 0 && len(r.Other) == 0 && len(r.Problems) == 0
}

// Verify checks that every segment recovery would read, from the oldest backup's start up to the
// newest archived segment along the newest timeline's history, is in the archive; backups on
// other branches get their own start-to-finish range checked.
func (a *Archive) Verify(ctx context.Context) (VerifyReport, error) {
	var r VerifyReport
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return r, err
	}
	w, err := a.scanWAL(ctx)
	if err != nil {
		return r, err
	}
	r.Backups = a.checkBackups(ctx, backups)
	tli := w.latestTLI()
	for _, b := range backups {
		tli = max(tli, b.Timeline)
	}
	r.Timeline, err = a.timeline(ctx, w, tli)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	// Histories of every ancestor must be there too (PostgreSQL reads them).
	for _, h := range r.Timeline.History {
		if _, ok := w.histories[h.TLI]; !ok && h.TLI > 1 {
			r.Problems = append(r.Problems, fmt.Sprintf("history file %s of ancestor timeline %d is missing", wal.HistoryFileName(h.TLI), h.TLI))
		}
	}
	var onBranch []Backup
	for _, b := range backups {
		if r.Timeline.Contains(b.Timeline, b.FinishLSN) {
			onBranch = append(onBranch, b)
		} else {
			r.OffBranch = append(r.OffBranch, b.Name)
			segs := wal.Timeline{TLI: b.Timeline}.SegmentsBetween(b.StartSegment().StartLSN(), b.FinishLSN.SegNo())
			r.Other = append(r.Other, gaps(segs, w.segments)...)
		}
	}
	var from wal.LSN
	switch {
	case len(onBranch) > 0:
		from = onBranch[0].StartSegment().StartLSN()
		for _, b := range onBranch {
			from = min(from, b.StartSegment().StartLSN())
		}
	default:
		// No backup: check from the oldest archived segment on the branch.
		first := ^uint64(0)
		for s := range w.segments {
			if r.Timeline.TimelineOfSegment(s.SegNo) == s.TLI {
				first = min(first, s.SegNo)
			}
		}
		if first == ^uint64(0) {
			return r, nil
		}
		from = wal.LSN(first * wal.SegmentSize)
	}
	last := uint64(0)
	found := false
	for s := range w.segments {
		if r.Timeline.TimelineOfSegment(s.SegNo) == s.TLI && s.SegNo >= from.SegNo() {
			last, found = max(last, s.SegNo), true
		}
	}
	for _, b := range onBranch {
		// A backup needs WAL up to its finish even if none of it is archived yet.
		if b.FinishLSN.SegNo() > last || !found {
			last, found = max(last, b.FinishLSN.SegNo()), true
		}
	}
	if !found {
		return r, nil
	}
	segs := r.Timeline.SegmentsBetween(from, last)
	r.From, r.To, r.Checked = segs[0], segs[len(segs)-1], len(segs)
	r.Gaps = gaps(segs, w.segments)
	return r, nil
}

func gaps(segs []wal.Segment, have map[wal.Segment]bool) []Gap {
	var out []Gap
	for _, s := range segs {
		if have[s] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Last.TLI == s.TLI && out[n-1].Last.SegNo+1 == s.SegNo {
			out[n-1].Last = s
			continue
		}
		out = append(out, Gap{s, s})
	}
	return out
}

// Print writes the report for people.
func (r VerifyReport) Print(w io.Writer) {
	fmt.Fprintf(w, "timeline %d", r.Timeline.TLI)
	for _, h := range r.Timeline.History {
		fmt.Fprintf(w, " (timeline %d until %s)", h.TLI, h.SwitchLSN)
	}
	fmt.Fprintln(w)
	if r.Checked > 0 {
		fmt.Fprintf(w, "segments %s .. %s: %d expected, %d missing\n", r.From, r.To, r.Checked, countGaps(r.Gaps))
	} else {
		fmt.Fprintln(w, "no segments to check")
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(w, "MISSING %s .. %s\n", g.First, g.Last)
	}
	sort.Strings(r.OffBranch)
	for _, b := range r.OffBranch {
		fmt.Fprintf(w, "backup %s is not on timeline %d's history\n", b, r.Timeline.TLI)
	}
	for _, g := range r.Other {
		fmt.Fprintf(w, "MISSING (off-branch backup) %s .. %s\n", g.First, g.Last)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	for _, b := range r.Backups {
		if len(b.Problems) == 0 {
			fmt.Fprintf(w, "backup %s: %d tar objects readable\n", b.Name, b.Parts)
		}
		for _, p := range b.Problems {
			fmt.Fprintf(w, "PROBLEM backup %s: %s\n", b.Name, p)
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "OK")
	}
}

func countGaps(gs []Gap) int {
	n := 0
	for _, g := range gs {
		n += int(g.Last.SegNo-g.First.SegNo) + 1
	}
	return n
}
