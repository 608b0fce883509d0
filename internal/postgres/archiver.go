package postgres

import (
	"context"
	"fmt"
)

// ArchiverStatus is what pg_stat_archiver says about WAL archiving.
type ArchiverStatus struct {
	Failing       bool   // the last push failed after the last success (or none succeeded)
	LastFailedWAL string // the file whose push failed last
}

// Archiver reads pg_stat_archiver.
func (db *DB) Archiver(ctx context.Context) (ArchiverStatus, error) {
	var s ArchiverStatus
	err := db.conn.QueryRow(ctx, `SELECT coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'), false),
		coalesce(last_failed_wal, '') FROM pg_stat_archiver`).Scan(&s.Failing, &s.LastFailedWAL)
	if err != nil {
		return s, fmt.Errorf("read pg_stat_archiver: %w", err)
	}
	return s, nil
}

// SwitchWAL closes the current WAL segment so that the archiver gets a new one to push.
func (db *DB) SwitchWAL(ctx context.Context) error {
	if _, err := db.conn.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		return fmt.Errorf("switch WAL: %w", err)
	}
	return nil
}
