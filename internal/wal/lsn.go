package wal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a WAL location: a byte position in the log stream.
type LSN uint64

// ParseLSN reads PostgreSQL's "16/B374D848" notation (two hex numbers of up to 32 bits).
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

// String writes the LSN the way PostgreSQL does.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// SegNo is the number of the segment holding the LSN.
func (l LSN) SegNo() uint64 { return uint64(l) / SegmentSize }

// UnmarshalJSON accepts JSON numbers (WAL-G's sentinels) as well as "X/Y" strings.
func (l *LSN) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseLSN(s)
		*l = v
		return err
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("LSN: %w", err)
	}
	*l = LSN(n)
	return nil
}
