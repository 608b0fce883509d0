package plan

import (
	"fmt"
	"strings"
	"time"
)

// OldCopy is a data directory moved aside (a restore, a clone replacing a diverged
// standby), kept until a base backup newer than it has completed: until then it may be
// the only copy of what it holds.
type OldCopy struct {
	Path  string
	Time  time.Time // when it was moved aside
	Bytes int64
}

// OldDataPlan is what becomes of the kept copies: the ones a later backup supersedes go,
// and the status names the rest with their size.
type OldDataPlan struct {
	Remove []string
	Note   string
}

// DecideOldData removes every copy older than the newest complete base backup of this
// unit's database (zero: none, or the archive could not be read, and nothing goes).
func DecideOldData(copies []OldCopy, newestBackup time.Time) OldDataPlan {
	var p OldDataPlan
	var parts []string
	for _, c := range copies {
		if !newestBackup.IsZero() && newestBackup.After(c.Time) {
			p.Remove = append(p.Remove, c.Path)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Path, HumanSize(c.Bytes)))
	}
	if len(parts) > 0 {
		p.Note = "old data kept until the next base backup: " + strings.Join(parts, ", ")
	}
	return p
}

// HumanSize is a size for status messages.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
