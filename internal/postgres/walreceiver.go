package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Streaming reports whether a standby's WAL receiver is streaming from a live upstream
// right now, and from which host: promoting a standby whose primary still streams to it
// would make a second writable primary.
func Streaming(ctx context.Context, c *Cluster) (bool, string, error) {
	db, err := Connect(ctx, c, "postgres")
	if err != nil {
		return false, "", fmt.Errorf("WAL receiver of cluster %s: %w", c, err)
	}
	defer db.Close(ctx)
	var status, host string
	err = db.conn.QueryRow(ctx, "SELECT status, coalesce(sender_host, '') FROM pg_stat_wal_receiver").Scan(&status, &host)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("WAL receiver of cluster %s: %w", c, err)
	}
	return status == "streaming", host, nil
}
