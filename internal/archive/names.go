package archive

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Layout constants shared with WAL-G (reference §1): both tools must find each other's objects.
const (
	BackupFolder      = "basebackups_005/"
	WALFolder         = "wal_005/"
	BackupNamePrefix  = "base_"
	SentinelSuffix    = "_backup_stop_sentinel.json"
	MetadataFile      = "metadata.json"
	FilesMetadataFile = "files_metadata.json"
	TarPartitions     = "tar_partitions/"
)

// SegmentSize is the WAL segment size. PostgreSQL's default; WAL-G makes the same assumption
// unless configured otherwise, and the charm never changes it at initdb time.
const SegmentSize uint64 = 16 << 20

// segmentsPerLog is how many segments one "log" (the middle 8 hex digits) holds.
const segmentsPerLog = 0x100000000 / SegmentSize

// LSN is a WAL location.
type LSN uint64

// ParseLSN reads PostgreSQL's "X/Y" notation.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("LSN %q: want X/Y", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// SegNo is the number of the segment holding the LSN.
func (l LSN) SegNo() uint64 { return uint64(l) / SegmentSize }

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

// WALKind classifies a file name found in pg_wal or in the archive.
type WALKind int

const (
	KindOther   WALKind = iota
	KindSegment         // 000000010000000000000003
	KindHistory         // 00000002.history
	KindPartial         // 000000010000000000000003.partial
	KindBackup          // 000000010000000000000003.00000028.backup
)

var (
	historyRE = regexp.MustCompile(`^[0-9A-F]{8}\.history$`)
	partialRE = regexp.MustCompile(`^[0-9A-F]{24}\.partial$`)
	backupRE  = regexp.MustCompile(`^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$`)
)

// ClassifyWAL says what kind of WAL file a base name is.
func ClassifyWAL(name string) WALKind {
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

// HistoryEntry is one line of a timeline history file: timeline TLI ended at SwitchLSN.
type HistoryEntry struct {
	TLI       uint32
	SwitchLSN LSN
	Reason    string
}

// ParseHistory reads a timeline history file (PostgreSQL's readTimeLineHistory format: parent
// timeline, tab, switch point, tab, free-form reason; # comments and blank lines allowed).
// Entries must be in increasing timeline order, as PostgreSQL writes them.
func ParseHistory(r io.Reader) ([]HistoryEntry, error) {
	var out []HistoryEntry
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("history line %d: want \"timeline switchpoint reason\", got %q", line, text)
		}
		tli, err := strconv.ParseUint(fields[0], 10, 32)
		if err != nil || tli == 0 {
			return nil, fmt.Errorf("history line %d: bad timeline %q", line, fields[0])
		}
		lsn, err := ParseLSN(fields[1])
		if err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		if n := len(out); n > 0 && (uint32(tli) <= out[n-1].TLI || lsn < out[n-1].SwitchLSN) {
			return nil, fmt.Errorf("history line %d: timeline %d at %s does not follow timeline %d at %s",
				line, tli, lsn, out[n-1].TLI, out[n-1].SwitchLSN)
		}
		reason := ""
		if len(fields) > 2 {
			reason = strings.Join(fields[2:], " ")
		}
		out = append(out, HistoryEntry{TLI: uint32(tli), SwitchLSN: lsn, Reason: reason})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

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

var backupNameRE = regexp.MustCompile(`^base_([0-9A-F]{24})(_D_[0-9A-F]{24})?(_[0-9A-F]{8})?$`)

// ParseBackupName checks a backup name against WAL-G's pattern and returns its start segment.
func ParseBackupName(name string) (Segment, error) {
	m := backupNameRE.FindStringSubmatch(name)
	if m == nil {
		return Segment{}, fmt.Errorf("%q is not a backup name (want base_ and 24 hex digits)", name)
	}
	return ParseSegment(m[1])
}
