package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/roles"
	"github.com/pgcharm/postgresql/internal/wal"
)

// DB is a connection to the local server as the postgres superuser, made
// through the unix socket with peer authentication: pg_hba.conf's first
// line (see hba.Render) maps the OS users root and postgres to the postgres
// role through pg_ident.conf's "juju" map, so hooks need no password.
type DB struct {
	conn    *pgx.Conn
	cluster *Cluster
}

// Connect opens a connection to database on the cluster.
func Connect(ctx context.Context, c *Cluster, database string) (*DB, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host = c.SocketDir
	cfg.Port = uint16(c.Port)
	cfg.User = OSUser
	cfg.Password = ""
	cfg.Database = database
	cfg.TLSConfig = nil
	cfg.Fallbacks = nil
	// The charm's own writes (roles, grants, slots) are idempotent and made again on the
	// next primary: they never wait for a standby, or a primary waiting for its quorum
	// could not run the hook that relaxes it.
	cfg.RuntimeParams = map[string]string{"application_name": "juju-charm", "synchronous_commit": "local"}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to cluster %s database %s: %w", c, database, err)
	}
	return &DB{conn: conn, cluster: c}, nil
}

// Close closes the connection.
func (db *DB) Close(ctx context.Context) error { return db.conn.Close(ctx) }

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func attrs(r roles.Spec) string {
	flag := func(on bool, name string) string {
		if on {
			return name
		}
		return "NO" + name
	}
	return strings.Join([]string{
		flag(r.Login, "LOGIN"), flag(r.Superuser, "SUPERUSER"), flag(r.Replication, "REPLICATION"),
		flag(r.CreateDB, "CREATEDB"), flag(r.CreateRole, "CREATEROLE"),
	}, " ")
}

// EnsureRole creates or alters a role to match r and reports whether
// anything changed. The password is only rewritten when it no longer
// matches the stored verifier, so repeated hooks change nothing.
func (db *DB) EnsureRole(ctx context.Context, r roles.Spec) (bool, error) {
	if r.Name == "" {
		return false, errors.New("ensure role: empty name")
	}
	for _, ch := range r.Password {
		if ch < 0x20 || ch > 0x7e {
			return false, fmt.Errorf("ensure role %s: the password must be printable ASCII", r.Name)
		}
	}
	var cur roles.Spec
	var stored *string
	err := db.conn.QueryRow(ctx, `SELECT rolcanlogin, rolsuper, rolreplication, rolcreatedb, rolcreaterole, rolpassword
		FROM pg_authid WHERE rolname = $1`, r.Name).Scan(&cur.Login, &cur.Superuser, &cur.Replication, &cur.CreateDB, &cur.CreateRole, &stored)
	exists := true
	if errors.Is(err, pgx.ErrNoRows) {
		exists = false
	} else if err != nil {
		return false, fmt.Errorf("ensure role %s: %w", r.Name, err)
	}
	changed := false
	if !exists {
		if _, err := db.conn.Exec(ctx, "CREATE ROLE "+ident(r.Name)+" WITH "+attrs(r)); err != nil {
			return false, fmt.Errorf("create role %s: %w", r.Name, err)
		}
		changed = true
	} else if attrs(cur) != attrs(r) {
		if _, err := db.conn.Exec(ctx, "ALTER ROLE "+ident(r.Name)+" WITH "+attrs(r)); err != nil {
			return false, fmt.Errorf("alter role %s: %w", r.Name, err)
		}
		changed = true
	}
	switch {
	case r.Password == "" && stored != nil:
		if _, err := db.conn.Exec(ctx, "ALTER ROLE "+ident(r.Name)+" PASSWORD NULL"); err != nil {
			return false, fmt.Errorf("remove password of role %s: %w", r.Name, err)
		}
		changed = true
	case r.Password != "" && (stored == nil || !scramMatches(*stored, r.Password)):
		v, err := scramVerifier(r.Password, 4096)
		if err != nil {
			return false, fmt.Errorf("set password of role %s: %w", r.Name, err)
		}
		if _, err := db.conn.Exec(ctx, "ALTER ROLE "+ident(r.Name)+" PASSWORD "+literal(v)); err != nil {
			// Report the server's message and code only: nothing that
			// could echo the statement (and its verifier).
			return false, fmt.Errorf("set password of role %s: %s", r.Name, pgErr(err))
		}
		changed = true
	}
	return changed, nil
}

func pgErr(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return "failed"
}

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for a
// password (RFC 5802/7677, as in the server's scram_build_secret).
func scramVerifier(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	stored, server, err := scramKeys(password, salt, iterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored), b64(server)), nil
}

func scramKeys(password string, salt []byte, iterations int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	ck := sha256.Sum256(mac(salted, "Client Key"))
	return ck[:], mac(salted, "Server Key"), nil
}

var scramRE = regexp.MustCompile(`^SCRAM-SHA-256\$([0-9]+):([^$]+)\$([^:]+):(.+)$`)

// scramMatches reports whether verifier was computed from password.
func scramMatches(verifier, password string) bool {
	m := scramRE.FindStringSubmatch(verifier)
	if m == nil {
		return false
	}
	iter, err := strconv.Atoi(m[1])
	if err != nil || iter <= 0 || iter > 1<<20 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(m[2])
	stored, err2 := base64.StdEncoding.DecodeString(m[3])
	server, err3 := base64.StdEncoding.DecodeString(m[4])
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	s, sv, err := scramKeys(password, salt, iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(s, stored) == 1 && subtle.ConstantTimeCompare(sv, server) == 1
}

// RoleExists reports whether a role exists.
func (db *DB) RoleExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := db.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up role %s: %w", name, err)
	}
	return ok, nil
}

// DropRole drops a role if it exists. It fails while the role owns objects
// or holds privileges; revoke or reassign them first.
func (db *DB) DropRole(ctx context.Context, name string) error {
	if _, err := db.conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
		return fmt.Errorf("drop role %s: %w", name, err)
	}
	return nil
}

// EnsureDatabase creates a database owned by owner if it does not exist,
// and reports whether it did. An existing database keeps its owner.
func (db *DB) EnsureDatabase(ctx context.Context, name, owner string) (bool, error) {
	var ok bool
	if err := db.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	if ok {
		return false, nil
	}
	sql := "CREATE DATABASE " + ident(name)
	if owner != "" {
		sql += " OWNER " + ident(owner)
	}
	if _, err := db.conn.Exec(ctx, sql); err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return true, nil
}

// GrantRole makes member a member of role and reports whether it was not.
func (db *DB) GrantRole(ctx context.Context, role, member string) (bool, error) {
	var ok bool
	err := db.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2)`, role, member).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("grant %s to %s: %w", role, member, err)
	}
	if ok {
		return false, nil
	}
	if _, err := db.conn.Exec(ctx, "GRANT "+ident(role)+" TO "+ident(member)); err != nil {
		return false, fmt.Errorf("grant %s to %s: %w", role, member, err)
	}
	return true, nil
}

// RevokeRole removes member from role.
func (db *DB) RevokeRole(ctx context.Context, role, member string) error {
	if _, err := db.conn.Exec(ctx, "REVOKE "+ident(role)+" FROM "+ident(member)); err != nil {
		return fmt.Errorf("revoke %s from %s: %w", role, member, err)
	}
	return nil
}

var databasePrivileges = map[string]bool{"ALL": true, "ALL PRIVILEGES": true, "CREATE": true, "CONNECT": true, "TEMPORARY": true, "TEMP": true}

// ParseDatabasePrivileges checks a comma-separated list of database
// privileges (the relation_database_privileges option, e.g. "ALL" or
// "CONNECT, TEMPORARY") and returns it normalised.
func ParseDatabasePrivileges(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
		if p == "" {
			continue
		}
		if !databasePrivileges[p] {
			return nil, fmt.Errorf("unknown database privilege %q (expected ALL, CREATE, CONNECT or TEMPORARY)", p)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no database privileges given")
	}
	return out, nil
}

// GrantDatabase grants privileges (see ParseDatabasePrivileges) on database
// to role. GRANT is idempotent.
func (db *DB) GrantDatabase(ctx context.Context, database, role string, privileges []string) error {
	for _, p := range privileges {
		if !databasePrivileges[p] {
			return fmt.Errorf("grant on database %s: unknown privilege %q", database, p)
		}
	}
	sql := "GRANT " + strings.Join(privileges, ", ") + " ON DATABASE " + ident(database) + " TO " + ident(role)
	if _, err := db.conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("grant on database %s to %s: %w", database, role, err)
	}
	return nil
}

// AvailableExtensions maps the extensions the server can install to their
// default versions.
func (db *DB) AvailableExtensions(ctx context.Context) (map[string]string, error) {
	rows, err := db.conn.Query(ctx, "SELECT name, coalesce(default_version, '') FROM pg_available_extensions")
	if err != nil {
		return nil, fmt.Errorf("list available extensions: %w", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, rows.Err()
}

// MissingExtensionsError names requested extensions the server lacks.
type MissingExtensionsError struct{ Names []string }

func (e *MissingExtensionsError) Error() string {
	return "extensions not available on this server: " + strings.Join(e.Names, ", ")
}

// EnsureExtensions creates the extensions (and those they require) in the
// database this DB is connected to, in schema when given. All are checked
// against pg_available_extensions first; none is created when one is
// missing (*MissingExtensionsError).
func (db *DB) EnsureExtensions(ctx context.Context, names []string, schema string) error {
	avail, err := db.AvailableExtensions(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, n := range names {
		if _, ok := avail[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return &MissingExtensionsError{Names: missing}
	}
	for _, n := range names {
		sql := "CREATE EXTENSION IF NOT EXISTS " + ident(n)
		if schema != "" {
			sql += " SCHEMA " + ident(schema)
		}
		if _, err := db.conn.Exec(ctx, sql+" CASCADE"); err != nil {
			return fmt.Errorf("create extension %s: %w", n, err)
		}
	}
	return nil
}

var slotRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Slot is a replication slot as pg_replication_slots shows it.
type Slot struct {
	Name       string
	Type       string // physical or logical
	Active     bool
	RestartLSN wal.LSN
}

// Slots lists the replication slots.
func (db *DB) Slots(ctx context.Context) ([]Slot, error) {
	rows, err := db.conn.Query(ctx, "SELECT slot_name, slot_type, active, coalesce(restart_lsn::text, '0/0') FROM pg_replication_slots ORDER BY slot_name")
	if err != nil {
		return nil, fmt.Errorf("list replication slots: %w", err)
	}
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var s Slot
		var lsn string
		if err := rows.Scan(&s.Name, &s.Type, &s.Active, &lsn); err != nil {
			return nil, err
		}
		s.RestartLSN, _ = wal.ParseLSN(lsn)
		out = append(out, s)
	}
	return out, rows.Err()
}

// EnsurePhysicalSlot creates a physical slot that reserves WAL from now on,
// unless it exists, and reports whether it created it.
func (db *DB) EnsurePhysicalSlot(ctx context.Context, name string) (bool, error) {
	if !slotRE.MatchString(name) {
		return false, fmt.Errorf("invalid replication slot name %q (lower case letters, digits and _ only)", name)
	}
	var ok bool
	if err := db.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up replication slot %s: %w", name, err)
	}
	if ok {
		return false, nil
	}
	if _, err := db.conn.Exec(ctx, "SELECT pg_create_physical_replication_slot($1, true)", name); err != nil {
		return false, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	return true, nil
}

// DropSlot drops a replication slot if it exists, first disconnecting the
// standby still using it (it belongs to a departed unit).
func (db *DB) DropSlot(ctx context.Context, name string) error {
	for attempt := 0; ; attempt++ {
		var pid *int32
		err := db.conn.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("drop replication slot %s: %w", name, err)
		}
		if pid != nil {
			if _, err := db.conn.Exec(ctx, "SELECT pg_terminate_backend($1)", *pid); err != nil {
				return fmt.Errorf("drop replication slot %s: disconnect its user: %w", name, err)
			}
		}
		_, err = db.conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name)
		if err == nil {
			return nil
		}
		if attempt >= 50 {
			return fmt.Errorf("drop replication slot %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drop replication slot %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReplicationStat is one row of pg_stat_replication: a standby streaming
// from this server.
type ReplicationStat struct {
	ApplicationName string
	ClientAddr      string
	State           string // streaming, catchup, ...
	SyncState       string
	SentLSN         wal.LSN
	WriteLSN        wal.LSN
	FlushLSN        wal.LSN
	ReplayLSN       wal.LSN
}

// Replication lists the standbys streaming from this server.
func (db *DB) Replication(ctx context.Context) ([]ReplicationStat, error) {
	rows, err := db.conn.Query(ctx, `SELECT application_name, coalesce(host(client_addr), ''), coalesce(state, ''),
		coalesce(sync_state, ''), coalesce(sent_lsn::text, '0/0'), coalesce(write_lsn::text, '0/0'),
		coalesce(flush_lsn::text, '0/0'), coalesce(replay_lsn::text, '0/0')
		FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		return nil, fmt.Errorf("replication status: %w", err)
	}
	defer rows.Close()
	var out []ReplicationStat
	for rows.Next() {
		var r ReplicationStat
		var s, w, f, p string
		if err := rows.Scan(&r.ApplicationName, &r.ClientAddr, &r.State, &r.SyncState, &s, &w, &f, &p); err != nil {
			return nil, err
		}
		r.SentLSN, _ = wal.ParseLSN(s)
		r.WriteLSN, _ = wal.ParseLSN(w)
		r.FlushLSN, _ = wal.ParseLSN(f)
		r.ReplayLSN, _ = wal.ParseLSN(p)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PauseReplay pauses WAL replay on a standby (streaming goes on).
func (db *DB) PauseReplay(ctx context.Context) error {
	if _, err := db.conn.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		return fmt.Errorf("pause replay: %w", err)
	}
	return nil
}

// ResumeReplay resumes WAL replay on a standby.
func (db *DB) ResumeReplay(ctx context.Context) error {
	if _, err := db.conn.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		return fmt.Errorf("resume replay: %w", err)
	}
	return nil
}

// Checkpoint forces a checkpoint (before a switchover or a base backup).
func (db *DB) Checkpoint(ctx context.Context) error {
	if _, err := db.conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// GrantRewind lets a non-superuser role run pg_rewind against this server
// (the functions pg_rewind calls), in the database this DB is connected to:
// pg_rewind must connect to that same database.
func (db *DB) GrantRewind(ctx context.Context, role string) error {
	for _, fn := range []string{
		"pg_catalog.pg_ls_dir(text, boolean, boolean)",
		"pg_catalog.pg_stat_file(text, boolean)",
		"pg_catalog.pg_read_binary_file(text)",
		"pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
	} {
		if _, err := db.conn.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+fn+" TO "+ident(role)); err != nil {
			return fmt.Errorf("grant %s to %s: %w", fn, role, err)
		}
	}
	return nil
}

// SettingInfos describes the named parameters from pg_settings, keyed by
// lower-case name (pg_settings spells a few in mixed case, "TimeZone");
// names the server does not know are absent from the map.
func (db *DB) SettingInfos(ctx context.Context, names []string) (map[string]*pgconf.SettingInfo, error) {
	lower := make([]string, len(names))
	for i, n := range names {
		lower[i] = strings.ToLower(n)
	}
	rows, err := db.conn.Query(ctx, `SELECT name, vartype, coalesce(unit, ''), coalesce(min_val, ''), coalesce(max_val, ''),
		coalesce(enumvals, '{}'::text[]), context FROM pg_settings WHERE lower(name) = ANY($1)`, lower)
	if err != nil {
		return nil, fmt.Errorf("read pg_settings: %w", err)
	}
	defer rows.Close()
	out := map[string]*pgconf.SettingInfo{}
	for rows.Next() {
		i := &pgconf.SettingInfo{}
		if err := rows.Scan(&i.Name, &i.Vartype, &i.Unit, &i.MinVal, &i.MaxVal, &i.EnumVals, &i.Context); err != nil {
			return nil, err
		}
		out[strings.ToLower(i.Name)] = i
	}
	return out, rows.Err()
}

// Validate checks settings against the running server's pg_settings before
// they are written, so that a typo blocks the unit with a message instead of
// stopping PostgreSQL at its next restart. It returns an
// *InvalidSettingsError listing every problem, or nil.
func (db *DB) Validate(ctx context.Context, s pgconf.Settings) error {
	infos, err := db.SettingInfos(ctx, s.Names())
	if err != nil {
		return err
	}
	var bad []*pgconf.SettingError
	for _, kv := range s {
		if e := pgconf.CheckSetting(kv.Name, infos[strings.ToLower(kv.Name)], kv.Value); e != nil {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		return &InvalidSettingsError{Problems: bad}
	}
	return nil
}

// PendingRestart lists the parameters changed in the configuration files
// that only a restart applies, as of the last reload this connection saw.
func (db *DB) PendingRestart(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("settings pending restart: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ReloadConf makes the server re-read its configuration files, waits until
// this connection has processed the reload, and returns the parameters that
// still need a restart (context postmaster). Use it instead of Reload when
// the answer matters: a plain reload is asynchronous.
func (db *DB) ReloadConf(ctx context.Context) ([]string, error) {
	var before time.Time
	if err := db.conn.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before); err != nil {
		return nil, fmt.Errorf("reload configuration: %w", err)
	}
	if _, err := db.conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return nil, fmt.Errorf("reload configuration: %w", err)
	}
	for {
		var after time.Time
		if err := db.conn.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&after); err != nil {
			return nil, fmt.Errorf("reload configuration: %w", err)
		}
		if after.After(before) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reload configuration: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return db.PendingRestart(ctx)
}

// FileSettingErrors reports entries of the configuration files that the
// server would not accept (unknown names, bad values), with file and line,
// e.g. after an include was written without Validate. pg_file_settings
// leaves its error column empty for bad values, so the effective entry of
// each name is checked like Validate does. Changes waiting for a restart
// are not errors.
func (db *DB) FileSettingErrors(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT DISTINCT ON (name) coalesce(sourcefile, ''), coalesce(sourceline, 0),
		coalesce(name, ''), coalesce(setting, ''), coalesce(error, '')
		FROM pg_file_settings ORDER BY name, seqno DESC`)
	if err != nil {
		return nil, fmt.Errorf("read pg_file_settings: %w", err)
	}
	type entry struct {
		file           string
		line           int
		name, val, err string
	}
	var entries []entry
	var names []string
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.file, &e.line, &e.name, &e.val, &e.err); err != nil {
			rows.Close()
			return nil, err
		}
		entries = append(entries, e)
		names = append(names, e.name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	infos, err := db.SettingInfos(ctx, names)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		where := fmt.Sprintf("%s:%d: ", e.file, e.line)
		if e.err != "" && e.err != "setting could not be applied" {
			out = append(out, where+e.name+": "+e.err)
		} else if se := pgconf.CheckSetting(e.name, infos[strings.ToLower(e.name)], e.val); se != nil {
			out = append(out, where+se.Error())
		}
	}
	return out, nil
}

// HBAErrors reports the lines of the pg_hba.conf on disk that the server
// cannot load (pg_hba_file_rules.error). A reload keeps the old rules when
// there are any.
func (db *DB) HBAErrors(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT 'line ' || line_number || ': ' || error FROM pg_hba_file_rules
		WHERE error IS NOT NULL ORDER BY line_number`)
	if err != nil {
		return nil, fmt.Errorf("read pg_hba_file_rules: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// WaitReplay waits until this standby has replayed WAL up to target (for a
// switchover: the old primary's shutdown checkpoint), or ctx ends.
func (db *DB) WaitReplay(ctx context.Context, target wal.LSN) error {
	for {
		var s string
		if err := db.conn.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn()::text, '0/0')").Scan(&s); err != nil {
			return fmt.Errorf("wait for replay of %s: %w", target, err)
		}
		if l, err := wal.ParseLSN(s); err == nil && l >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for replay of %s (replayed %s): %w", target, s, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
