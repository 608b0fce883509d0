package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgcharm/postgresql/internal/wal"
)

// TimelineHistory is the history of timeline tli as the server keeps it (pg_wal's
// history file, read by the server itself with pg_read_file, so nothing of postgres's is
// opened by root): the ancestors, each with the point where it was left. Timeline 1 has
// none.
func (db *DB) TimelineHistory(ctx context.Context, tli int) ([]wal.HistoryEntry, error) {
	if tli <= 1 {
		return nil, nil
	}
	name := fmt.Sprintf("pg_wal/%08X.history", tli)
	var text string
	if err := db.conn.QueryRow(ctx, "SELECT pg_read_file($1)", name).Scan(&text); err != nil {
		return nil, fmt.Errorf("timeline history %s: %w", name, err)
	}
	h, err := wal.ParseHistory(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("timeline history %s: %w", name, err)
	}
	return h, nil
}
