package wal

import (
	"fmt"
	"regexp"
	"strconv"
)

// SegmentSize is the WAL segment size: PostgreSQL's default. WAL-G makes the same
// assumption unless configured otherwise, and the charm never changes it at initdb time.
const SegmentSize uint64 = 16 << 20

// segmentsPerLog is how many segments one "log" (the middle 8 hex digits) holds.
const segmentsPerLog = 0x100000000 / SegmentSize

// Segment names one WAL segment file on one timeline.
type Segment struct {
	TLI   uint32
	SegNo uint64
}

// SegmentOf is the segment holding lsn on timeline tli.
func SegmentOf(tli uint32, lsn LSN) Segment { return Segment{tli, lsn.SegNo()} }

// Name is the 24-hex-digit file name PostgreSQL gives the segment.
func (s Segment) Name() string {
	return fmt.Sprintf("%08X%08X%08X", s.TLI, s.SegNo/segmentsPerLog, s.SegNo%segmentsPerLog)
}

func (s Segment) String() string { return s.Name() }

// Next is the following segment on the same timeline.
func (s Segment) Next() Segment { return Segment{s.TLI, s.SegNo + 1} }

// StartLSN is the first location in the segment.
func (s Segment) StartLSN() LSN { return LSN(s.SegNo * SegmentSize) }

// Less orders by timeline, then segment number: WAL-G's order for retention.
func (s Segment) Less(o Segment) bool {
	if s.TLI != o.TLI {
		return s.TLI < o.TLI
	}
	return s.SegNo < o.SegNo
}

var segmentRE = regexp.MustCompile(`^[0-9A-F]{24}$`)

// ParseSegment reads a 24-hex-digit segment name. The middle part must stay below the number
// of segments per log, as PostgreSQL never writes anything else.
func ParseSegment(name string) (Segment, error) {
	if !segmentRE.MatchString(name) {
		return Segment{}, fmt.Errorf("%q is not a WAL segment name", name)
	}
	tli, _ := strconv.ParseUint(name[0:8], 16, 32)
	log, _ := strconv.ParseUint(name[8:16], 16, 32)
	seg, _ := strconv.ParseUint(name[16:24], 16, 32)
	if seg >= segmentsPerLog {
		return Segment{}, fmt.Errorf("%q: segment part %X out of range for %d MiB segments", name, seg, SegmentSize>>20)
	}
	if tli == 0 {
		return Segment{}, fmt.Errorf("%q: timeline 0 does not exist", name)
	}
	return Segment{uint32(tli), log*segmentsPerLog + seg}, nil
}

// Kind classifies a file name found in pg_wal or in an archive.
type Kind int

// The kinds of WAL file.
const (
	KindOther   Kind = iota
	KindSegment      // 000000010000000000000003
	KindHistory      // 00000002.history
	KindPartial      // 000000010000000000000003.partial
	KindBackup       // 000000010000000000000003.00000028.backup
)

var (
	historyRE = regexp.MustCompile(`^[0-9A-F]{8}\.history$`)
	partialRE = regexp.MustCompile(`^[0-9A-F]{24}\.partial$`)
	backupRE  = regexp.MustCompile(`^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$`)
)

// Classify says what kind of WAL file a base name is.
func Classify(name string) Kind {
	switch {
	case segmentRE.MatchString(name):
		if _, err := ParseSegment(name); err != nil {
			return KindOther
		}
		return KindSegment
	case historyRE.MatchString(name):
		return KindHistory
	case partialRE.MatchString(name):
		return KindPartial
	case backupRE.MatchString(name):
		return KindBackup
	}
	return KindOther
}

// HistoryFileName is the name of a timeline's history file.
func HistoryFileName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }
