package wal

// Timeline is a timeline with its ancestry: History holds the ancestors in order, each with
// the LSN at which it was left (as in the timeline's history file).
type Timeline struct {
	TLI     uint32
	History []HistoryEntry
}

// Contains says whether WAL at lsn on timeline tli is part of this timeline's past or
// present: tli is this timeline, or an ancestor left after lsn.
func (t Timeline) Contains(tli uint32, lsn LSN) bool {
	if tli == t.TLI {
		if len(t.History) > 0 {
			return lsn >= t.History[len(t.History)-1].SwitchLSN
		}
		return true
	}
	prev := LSN(0)
	for _, h := range t.History {
		if h.TLI == tli {
			return lsn >= prev && lsn <= h.SwitchLSN
		}
		prev = h.SwitchLSN
	}
	return false
}

// NeedsRewind says whether a server whose WAL reaches lsn on timeline tli must be rewound
// before it can follow a primary on this timeline. It can follow as it is when it is on
// this timeline, or on an ancestor and not past the point where this timeline's line left
// it; anything else (a timeline this one never had, or WAL past the fork) needs pg_rewind.
func (t Timeline) NeedsRewind(tli uint32, lsn LSN) bool {
	if tli == t.TLI {
		return false
	}
	if tli > t.TLI {
		return true
	}
	for _, h := range t.History {
		if h.TLI == tli {
			return lsn > h.SwitchLSN
		}
	}
	return true
}

// TimelineOfSegment is the timeline recovery along this timeline reads segment segNo from:
// the newest timeline in the ancestry that had begun by that segment (PostgreSQL's
// XLogFileReadAnyTLI order). The segment holding a switch point comes from the child.
func (t Timeline) TimelineOfSegment(segNo uint64) uint32 {
	tli := t.TLI
	for i := len(t.History) - 1; i >= 0; i-- {
		if segNo >= t.History[i].SwitchLSN.SegNo() {
			return tli
		}
		tli = t.History[i].TLI
	}
	return tli
}

// SegmentsBetween lists the segments recovery on this timeline reads, from the segment holding
// from up to and including segment number lastSegNo.
func (t Timeline) SegmentsBetween(from LSN, lastSegNo uint64) []Segment {
	var out []Segment
	for n := from.SegNo(); n <= lastSegNo; n++ {
		out = append(out, Segment{t.TimelineOfSegment(n), n})
	}
	return out
}
