package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Facts are what the charm publishes and decides on about the local server.
type Facts struct {
	ServerVersion    string // "15.18"
	ServerVersionNum int    // 150018
	SystemIdentifier string // decimal, the same on a primary and its standbys
	InRecovery       bool   // a standby (or a server still recovering)
	Timeline         int
	// CurrentLSN: the primary's insert position; on a standby the last
	// WAL location replayed (the standby's "current" position).
	CurrentLSN wal.LSN
	// FlushLSN: flushed to disk on a primary; received and flushed on a
	// standby (0 when nothing was streamed since start).
	FlushLSN wal.LSN
	// ReplayLSN: replayed on a standby; equal to CurrentLSN on a primary.
	ReplayLSN wal.LSN
	// ReceiverStatus is pg_stat_wal_receiver.status on a standby
	// ("streaming", ...; empty when no WAL receiver runs).
	ReceiverStatus string
	ReceiverHost   string
	ReplayPaused   bool
}

// Facts queries the server.
func (db *DB) Facts(ctx context.Context) (*Facts, error) {
	f := &Facts{}
	var version string
	err := db.conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
		(SELECT system_identifier::text FROM pg_control_system()), pg_is_in_recovery()`).
		Scan(&version, &f.ServerVersionNum, &f.SystemIdentifier, &f.InRecovery)
	if err != nil {
		return nil, fmt.Errorf("server facts: %w", err)
	}
	f.ServerVersion = strings.Fields(version)[0]
	var cur, flush, replay string
	if !f.InRecovery {
		var walfile string
		err = db.conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, pg_current_wal_flush_lsn()::text,
			pg_walfile_name(pg_current_wal_lsn())`).Scan(&cur, &flush, &walfile)
		if err != nil {
			return nil, fmt.Errorf("server facts: %w", err)
		}
		tli, err := strconv.ParseInt(walfile[:8], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("server facts: timeline of %s: %w", walfile, err)
		}
		f.Timeline = int(tli)
		replay = cur
	} else {
		// A standby's timeline: the one it receives, else the newest its pg_wal holds WAL
		// of. Once the WAL receiver is gone (its primary died) the last restartpoint's
		// timeline is all PostgreSQL says, and that lags a timeline switch by up to
		// checkpoint_timeout: the standby would look like one that never followed it and
		// be rewound. pg_ls_waldir is open to pg_monitor, which the leader measures as.
		var ckptTLI, recvTLI int
		var walTLI string
		err = db.conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn()::text, '0/0'),
			coalesce(pg_last_wal_receive_lsn()::text, '0/0'), pg_is_wal_replay_paused(),
			(SELECT timeline_id FROM pg_control_checkpoint()),
			coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0),
			coalesce((SELECT status FROM pg_stat_wal_receiver), ''),
			coalesce((SELECT sender_host FROM pg_stat_wal_receiver), ''),
			coalesce((SELECT max(substr(name, 1, 8)) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'), '00000000')`).
			Scan(&replay, &flush, &f.ReplayPaused, &ckptTLI, &recvTLI, &f.ReceiverStatus, &f.ReceiverHost, &walTLI)
		if err != nil {
			return nil, fmt.Errorf("server facts: %w", err)
		}
		wtli, err := strconv.ParseInt(walTLI, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("server facts: timeline of %s: %w", walTLI, err)
		}
		f.Timeline = max(ckptTLI, recvTLI, int(wtli))
		cur = replay
	}
	if f.CurrentLSN, err = wal.ParseLSN(cur); err != nil {
		return nil, err
	}
	if f.FlushLSN, err = wal.ParseLSN(flush); err != nil {
		return nil, err
	}
	if f.ReplayLSN, err = wal.ParseLSN(replay); err != nil {
		return nil, err
	}
	return f, nil
}

// Measure reads the Facts of another unit's server over a connection made with cfg (the
// replication role, which holds pg_monitor). Relation data may be stale; a decision
// that can lose data (choosing a primary, switching over) is made on positions read
// from the servers themselves.
func Measure(ctx context.Context, cfg *pgx.ConnConfig) (*Facts, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("measure %s: %w", cfg.Host, err)
	}
	defer conn.Close(ctx)
	f, err := (&DB{conn: conn}).Facts(ctx)
	if err != nil {
		return nil, fmt.Errorf("measure %s: %w", cfg.Host, err)
	}
	return f, nil
}
