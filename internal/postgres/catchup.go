package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgcharm/postgresql/internal/wal"
)

// BehindError says a standby had not replayed the WAL it must replay before it may
// promote: promoting then would drop the rows the old primary acknowledged after that
// point.
type BehindError struct {
	Target   wal.LSN // what it must replay
	Replayed wal.LSN // what it had replayed when the wait ended
	Received wal.LSN // what it had received (replay can only go this far without more WAL)
	Paused   bool    // its replay is paused (pg_wal_replay_pause, the replication-pause action)
	Receiver string  // its WAL receiver's state ("streaming", "" when none runs)
	Waited   time.Duration
}

func (e *BehindError) Error() string {
	why := "replay is behind"
	switch {
	case e.Paused:
		why = "its WAL replay is paused (replication-pause); resume it (replication-resume)"
	case e.Received < e.Target && e.Receiver != "streaming":
		why = "it is not receiving WAL"
	case e.Received < e.Target:
		why = "it has not received that WAL yet"
	}
	return fmt.Sprintf("replayed %s of %s after %s: %s", e.Replayed, e.Target, e.Waited.Round(time.Second), why)
}

// CatchUp waits up to wait for the standby to replay WAL up to target (for a switchover:
// just past the old primary's shutdown checkpoint, the last record it wrote). It returns
// a *BehindError when the standby is still short, and never promotes anything itself.
func CatchUp(ctx context.Context, c *Cluster, target wal.LSN, wait time.Duration) error {
	db, err := Connect(ctx, c, "postgres")
	if err != nil {
		return fmt.Errorf("catch up to %s: %w", target, err)
	}
	defer db.Close(ctx)
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, wait)
	err = db.WaitReplay(wctx, target)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return err
	}
	// What the standby reached is read on a connection of its own: when the deadline fell
	// while WaitReplay's query was in flight, pgx closed that one with the query.
	fdb, ferr := Connect(ctx, c, "postgres")
	if ferr != nil {
		return fmt.Errorf("catch up to %s: %w", target, ferr)
	}
	defer fdb.Close(ctx)
	f, ferr := fdb.Facts(ctx)
	if ferr != nil {
		return fmt.Errorf("catch up to %s: %w", target, ferr)
	}
	return &BehindError{Target: target, Replayed: f.ReplayLSN, Received: f.FlushLSN, Paused: f.ReplayPaused,
		Receiver: f.ReceiverStatus, Waited: time.Since(start)}
}
