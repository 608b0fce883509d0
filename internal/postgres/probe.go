package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/wal"
)

// ProbeFacts is what the failover agent (internal/agent) reads from a server every
// second: its role, how much WAL it holds, and whether it is in touch with the rest.
type ProbeFacts struct {
	InRecovery bool
	Timeline   uint32
	Flushed    wal.LSN // primary: flushed; standby: received and flushed (pg_last_wal_receive_lsn)
	Replayed   wal.LSN // standby: replayed; primary: its insert position
	// ReceiverStreaming: a standby's WAL receiver streams; ReceiverAge is how long ago it
	// last heard from its primary (keepalives included), -1 without a receiver.
	ReceiverStreaming bool
	ReceiverAge       time.Duration
	SyncNames         string   // synchronous_standby_names in force
	Standbys          []string // primary: application names of the standbys streaming from it
}

// Dial opens a connection made with cfg (a peer's server as the replication role,
// which holds pg_monitor).
func Dial(ctx context.Context, cfg *pgx.ConnConfig) (*DB, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	return &DB{conn: conn}, nil
}

// Probe reads the ProbeFacts. It needs pg_monitor (pg_stat_wal_receiver and
// pg_stat_replication show their columns to pg_read_all_stats only).
func (db *DB) Probe(ctx context.Context) (*ProbeFacts, error) {
	f := &ProbeFacts{ReceiverAge: -1}
	if err := db.conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')`).
		Scan(&f.InRecovery, &f.SyncNames); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var flush, replay string
	if !f.InRecovery {
		var walfile string
		err := db.conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text, pg_current_wal_lsn()::text,
			pg_walfile_name(pg_current_wal_lsn()),
			coalesce((SELECT array_agg(application_name ORDER BY application_name) FROM pg_stat_replication
				WHERE state = 'streaming'), '{}')`).Scan(&flush, &replay, &walfile, &f.Standbys)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		tli, err := strconv.ParseUint(walfile[:8], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("probe: timeline of %s: %w", walfile, err)
		}
		f.Timeline = uint32(tli)
	} else {
		var status string
		var age float64
		var ckptTLI, recvTLI uint32
		err := db.conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_receive_lsn()::text, '0/0'),
			coalesce(pg_last_wal_replay_lsn()::text, '0/0'),
			(SELECT timeline_id FROM pg_control_checkpoint())::int,
			coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0)::int,
			coalesce((SELECT status FROM pg_stat_wal_receiver), ''),
			coalesce((SELECT extract(epoch FROM clock_timestamp() - last_msg_receipt_time) FROM pg_stat_wal_receiver), -1)::float8`).
			Scan(&flush, &replay, &ckptTLI, &recvTLI, &status, &age)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		f.Timeline = max(ckptTLI, recvTLI)
		f.ReceiverStreaming = status == "streaming"
		if age >= 0 {
			f.ReceiverAge = time.Duration(age * float64(time.Second))
		}
	}
	var err error
	if f.Flushed, err = wal.ParseLSN(flush); err != nil {
		return nil, err
	}
	if f.Replayed, err = wal.ParseLSN(replay); err != nil {
		return nil, err
	}
	f.Flushed = max(f.Flushed, f.Replayed)
	return f, nil
}
