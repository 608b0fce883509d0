package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Upstream is the server a standby clones from, follows or rewinds to.
type Upstream struct {
	Host     string
	Port     int
	User     string // a role with REPLICATION (and, for Rewind, GrantRewind)
	Password string
	// SSLMode defaults to "prefer"; verify-full with SSLRootCert (a CA's certificate)
	// refuses any server whose certificate that CA did not issue for Host.
	SSLMode     string
	SSLRootCert string
	// AppName identifies this standby in the upstream's
	// pg_stat_replication; use the unit name.
	AppName string
}

// conninfo renders a libpq connection string. The password is never part
// of it: libpq reads it from passfile.
func (u Upstream) conninfo(passfile, database string) string {
	kv := [][2]string{{"host", u.Host}, {"port", strconv.Itoa(u.Port)}, {"user", u.User}}
	if passfile != "" {
		kv = append(kv, [2]string{"passfile", passfile})
	}
	if database != "" {
		kv = append(kv, [2]string{"dbname", database})
	}
	mode := u.SSLMode
	if mode == "" {
		mode = "prefer"
	}
	kv = append(kv, [2]string{"sslmode", mode})
	if u.SSLRootCert != "" {
		kv = append(kv, [2]string{"sslrootcert", u.SSLRootCert})
	}
	if u.AppName != "" {
		kv = append(kv, [2]string{"application_name", u.AppName})
	}
	var parts []string
	for _, p := range kv {
		parts = append(parts, p[0]+"="+conninfoQuote(p[1]))
	}
	return strings.Join(parts, " ")
}

func conninfoQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`) + "'"
}

func (u Upstream) check() error {
	if u.Host == "" || u.Port <= 0 || u.User == "" {
		return errors.New("upstream needs a host, a port and a user")
	}
	return nil
}

// passfileLine renders a ~/.pgpass line that matches any database of the
// upstream (':' and '\' escaped, as libpq expects).
func passfileLine(u Upstream) string {
	esc := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `:`, `\:`)
	}
	return fmt.Sprintf("%s:%d:*:%s:%s\n", esc(u.Host), u.Port, esc(u.User), esc(u.Password))
}

// tempPassfile writes the upstream's password to a file only postgres can
// read, for a command run as postgres; the caller removes it.
func tempPassfile(u Upstream) (string, error) {
	f, err := os.CreateTemp("", "juju-pgpass-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		err = chownPostgres(name)
	}
	if err == nil {
		_, err = f.WriteString(passfileLine(u))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func dirEmpty(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}

// CloneOptions tune Clone.
type CloneOptions struct {
	// Slot is the upstream's physical replication slot to stream through
	// (it keeps the WAL the new standby needs).
	Slot string
	// CreateSlot asks pg_basebackup to create Slot on the upstream.
	CreateSlot bool
	// MoveAside lets Clone move a non-empty data directory aside
	// (see MoveAside) instead of refusing it.
	MoveAside bool
	// Progress receives pg_basebackup's progress output.
	Progress io.Writer
}

// NotEmptyError refuses to clone into a data directory that holds files.
type NotEmptyError struct{ DataDir string }

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("data directory %s is not empty; refusing to clone over it", e.DataDir)
}

// Clone copies the upstream into dataDir with pg_basebackup, streaming the
// WAL it needs alongside (-X stream) after a fast checkpoint. The server of
// dataDir must be stopped. The password reaches pg_basebackup through a
// temporary 0600 passfile, never the command line or the environment. It
// returns the path the old content was moved to, if any. The clone is a
// bare data directory: Adopt it (or keep the cluster already configured
// for it), then WriteStandbyConfig and Start.
func Clone(ctx context.Context, version, dataDir string, up Upstream, o CloneOptions) (movedTo string, err error) {
	if err := up.check(); err != nil {
		return "", fmt.Errorf("clone: %w", err)
	}
	if o.Slot != "" && !slotRE.MatchString(o.Slot) {
		return "", fmt.Errorf("clone: invalid slot name %q", o.Slot)
	}
	if running, err := IsRunning(ctx, &Cluster{Version: version, DataDir: dataDir}); err != nil || running {
		if err == nil {
			err = errors.New("a server is running on it; stop it first")
		}
		return "", fmt.Errorf("clone into %s: %w", dataDir, err)
	}
	empty, err := dirEmpty(dataDir)
	if err != nil {
		return "", fmt.Errorf("clone into %s: %w", dataDir, err)
	}
	if !empty {
		if !o.MoveAside {
			return "", &NotEmptyError{DataDir: dataDir}
		}
		if movedTo, err = MoveAsideAs(dataDir, "clone"); err != nil {
			return "", fmt.Errorf("clone: %w", err)
		}
	}
	if err := prepareDataDir(dataDir); err != nil {
		return movedTo, fmt.Errorf("clone into %s: %w", dataDir, err)
	}
	pass, err := tempPassfile(up)
	if err != nil {
		return movedTo, fmt.Errorf("clone: passfile: %w", err)
	}
	defer os.Remove(pass)
	args := []string{"-D", dataDir, "-d", up.conninfo(pass, ""), "-X", "stream", "-c", "fast", "--no-password"}
	if o.Slot != "" {
		args = append(args, "-S", o.Slot)
		if o.CreateSlot {
			args = append(args, "-C")
		}
	}
	spec := cmdSpec{asPG: true, stderr: o.Progress}
	if o.Progress != nil {
		args = append(args, "-P")
	}
	if _, err := run(ctx, spec, filepath.Join(BinDir(version), "pg_basebackup"), args...); err != nil {
		return movedTo, fmt.Errorf("clone from %s:%d: %w", up.Host, up.Port, err)
	}
	return movedTo, nil
}

// StandbyConfName is the conf.d include holding the standby settings.
const StandbyConfName = "juju-standby.conf"

// passfileName keeps the replication password for primary_conninfo.
const passfileName = "juju-replication.pgpass"

// StandbyConfig is what a standby needs to follow its upstream.
type StandbyConfig struct {
	Upstream Upstream
	// Slot is the upstream's replication slot for this standby.
	Slot string
	// RestoreCommand fetches archived WAL (empty: streaming only).
	RestoreCommand string
}

// WriteStandbyConfig makes the cluster a standby of cfg.Upstream (PostgreSQL
// 12+ conventions): primary_conninfo, primary_slot_name and restore_command
// in conf.d/juju-standby.conf, the password in a 0600 passfile in the
// configuration directory that primary_conninfo points to, and
// standby.signal in the data directory. It reports whether anything
// changed; a running standby picks up changes on reload (PostgreSQL 13+).
func WriteStandbyConfig(c *Cluster, cfg StandbyConfig) (bool, error) {
	if err := cfg.Upstream.check(); err != nil {
		return false, fmt.Errorf("standby configuration: %w", err)
	}
	if cfg.Slot != "" && !slotRE.MatchString(cfg.Slot) {
		return false, fmt.Errorf("standby configuration: invalid slot name %q", cfg.Slot)
	}
	pass := filepath.Join(c.ConfDir, passfileName)
	changed, err := writeFileAtomic(pass, []byte(passfileLine(cfg.Upstream)), 0o600, true)
	if err != nil {
		return false, err
	}
	s := pgconf.Settings{
		{Name: "primary_conninfo", Value: cfg.Upstream.conninfo(pass, "")},
		{Name: "primary_slot_name", Value: cfg.Slot},
		{Name: "restore_command", Value: cfg.RestoreCommand},
		{Name: "recovery_target_timeline", Value: "latest"},
	}
	ch, err := WriteConf(c, StandbyConfName, s)
	if err != nil {
		return false, err
	}
	changed = changed || ch
	ch, err = writeStandbySignal(c)
	return changed || ch, err
}

func writeStandbySignal(c *Cluster) (bool, error) {
	sig := filepath.Join(c.DataDir, "standby.signal")
	if _, err := os.Stat(sig); err == nil {
		return false, nil
	}
	return writeFileAtomic(sig, nil, 0o600, true)
}

// RemoveStandbyConfig removes the standby settings, the passfile and
// standby.signal (after a promotion).
func RemoveStandbyConfig(c *Cluster) error {
	for _, p := range []string{
		filepath.Join(c.ConfDir, "conf.d", StandbyConfName),
		filepath.Join(c.ConfDir, passfileName),
		filepath.Join(c.DataDir, "standby.signal"),
	} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove standby configuration: %w", err)
		}
	}
	return nil
}

// IsStandbyConfigured reports whether the data directory will start as a
// standby (standby.signal present).
func IsStandbyConfigured(c *Cluster) (bool, error) {
	_, err := os.Stat(filepath.Join(c.DataDir, "standby.signal"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// ControlData is what pg_controldata says about a data directory, readable
// while the server is stopped.
type ControlData struct {
	SystemIdentifier string
	State            string // "shut down", "shut down in recovery", "in production", ...
	TimelineID       int    // latest checkpoint's timeline
	CheckpointLSN    wal.LSN
	MinRecoveryLSN   wal.LSN // minimum recovery ending location (standbys)
	Checksums        bool
}

// ReadControlData runs pg_controldata on the cluster's data directory.
func ReadControlData(ctx context.Context, c *Cluster) (*ControlData, error) {
	out, err := run(ctx, cmdSpec{asPG: true}, filepath.Join(c.BinDir(), "pg_controldata"), "-D", c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("control data of %s: %w", c.DataDir, err)
	}
	return parseControlData(string(out))
}

func parseControlData(out string) (*ControlData, error) {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	d := &ControlData{
		SystemIdentifier: m["Database system identifier"],
		State:            m["Database cluster state"],
	}
	if d.SystemIdentifier == "" || d.State == "" {
		return nil, fmt.Errorf("unexpected pg_controldata output")
	}
	d.TimelineID, _ = strconv.Atoi(m["Latest checkpoint's TimeLineID"])
	d.CheckpointLSN, _ = wal.ParseLSN(m["Latest checkpoint location"])
	d.MinRecoveryLSN, _ = wal.ParseLSN(m["Minimum recovery ending location"])
	d.Checksums = m["Data page checksum version"] != "" && m["Data page checksum version"] != "0"
	return d, nil
}

// Rewind resynchronises the cluster's data directory with the upstream
// (pg_rewind) after their timelines diverged, e.g. a former primary that
// must follow the promoted standby. The local server must be stopped; it
// is given standby.signal so that it can never come back as a primary:
// call WriteStandbyConfig before starting it. pg_rewind needs
// wal_log_hints or data checksums, and up.User must be a superuser or have
// the rights GrantRewind gives, in the "postgres" database of the upstream.
//
// With restoreTargetWAL, WAL the target no longer has is fetched with its
// restore_command (pg_rewind --restore-target-wal, PostgreSQL 15+ here since
// Debian keeps postgresql.conf outside the data directory).
func Rewind(ctx context.Context, c *Cluster, up Upstream, restoreTargetWAL bool, progress io.Writer) error {
	if err := up.check(); err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	running, err := IsRunning(ctx, c)
	if err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	if running {
		return fmt.Errorf("rewind cluster %s: the server must be stopped first", c)
	}
	// The target must have been shut down cleanly. PostgreSQL 15 lets
	// pg_rewind run crash recovery itself given the configuration file;
	// older versions need a start and a clean stop, as a standby so that
	// the old primary accepts no write meanwhile.
	if err := cleanShutdown(ctx, c); err != nil {
		return fmt.Errorf("rewind cluster %s: %w", c, err)
	}
	pass, err := tempPassfile(up)
	if err != nil {
		return fmt.Errorf("rewind: passfile: %w", err)
	}
	defer os.Remove(pass)
	args := []string{"--target-pgdata", c.DataDir, "--source-server", up.conninfo(pass, "postgres")}
	if progress != nil {
		args = append(args, "--progress")
	}
	if restoreTargetWAL {
		if major, _ := strconv.Atoi(c.Version); major < 15 {
			return fmt.Errorf("rewind cluster %s: fetching WAL with restore_command needs PostgreSQL 15 or later", c)
		}
		args = append(args, "--restore-target-wal", "--config-file", filepath.Join(c.ConfDir, "postgresql.conf"))
	}
	if _, err := run(ctx, cmdSpec{asPG: true, stderr: progress}, filepath.Join(c.BinDir(), "pg_rewind"), args...); err != nil {
		return fmt.Errorf("rewind cluster %s from %s:%d: %w", c, up.Host, up.Port, err)
	}
	if _, err := writeStandbySignal(c); err != nil {
		return fmt.Errorf("rewind cluster %s: %w", c, err)
	}
	return nil
}

// cleanShutdown brings a stopped data directory to a clean shutdown state by
// starting it as a standby and stopping it again.
func cleanShutdown(ctx context.Context, c *Cluster) error {
	cd, err := ReadControlData(ctx, c)
	if err != nil {
		return err
	}
	if cd.State == "shut down" || cd.State == "shut down in recovery" {
		return nil
	}
	if _, err := writeStandbySignal(c); err != nil {
		return err
	}
	// Without an upstream the standby replays its own WAL to the end and
	// reaches consistency, which is all a clean shutdown needs.
	if err := Start(ctx, c); err != nil {
		return fmt.Errorf("recover before rewinding: %w", err)
	}
	return Stop(ctx, c, StopFast)
}
