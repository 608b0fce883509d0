package plan

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Fork is one line of a timeline history file: timeline Parent ended at LSN Switch,
// where the next timeline began.
type Fork struct {
	Parent uint32
	Switch uint64
}

// ParseHistory reads a PostgreSQL timeline history file ("1\t0/3000158\treason").
func ParseHistory(text string) ([]Fork, error) {
	var out []Fork
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("history line %d: %q has no switch point", n, line)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("history line %d: timeline %q: %w", n, f[0], err)
		}
		lsn, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("history line %d: %w", n, err)
		}
		out = append(out, Fork{Parent: uint32(tli), Switch: lsn})
	}
	return out, sc.Err()
}

// ParseLSN reads "16/B374D848".
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not an LSN", s)
	}
	return h<<32 | l, nil
}

// FormatLSN writes an LSN the way PostgreSQL does.
func FormatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }

// NeedsRewind says whether a standby at (tli, lsn) must be rewound before it can follow a
// primary on primaryTLI with the given history. It can follow as it is when it is on the
// primary's timeline, or on an ancestor timeline and not past the point where the
// primary's line left it; anything else (a timeline the primary never had, or WAL past
// the fork) needs pg_rewind.
func NeedsRewind(tli uint32, lsn uint64, primaryTLI uint32, history []Fork) bool {
	if tli == primaryTLI {
		return false
	}
	if tli > primaryTLI {
		return true
	}
	for _, f := range history {
		if f.Parent == tli {
			return lsn > f.Switch
		}
	}
	return true
}
