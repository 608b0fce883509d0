package wal

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// HistoryEntry is one line of a timeline history file: timeline TLI ended at SwitchLSN,
// where its child began.
type HistoryEntry struct {
	TLI       uint32
	SwitchLSN LSN
	Reason    string
}

// ParseHistory reads a timeline history file (PostgreSQL's readTimeLineHistory format: parent
// timeline, tab, switch point, tab, free-form reason; # comments and blank lines allowed).
// Entries must be in increasing timeline order, as PostgreSQL writes them. It takes a reader
// because history files come from pg_wal, an archive or a replication connection alike.
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
