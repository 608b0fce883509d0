// Package cli runs the archive engine's subcommands of the charm binary: the commands
// PostgreSQL runs as archive_command and restore_command, and those cron and operators run.
// Credentials come from the configuration file, never from argv.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/store"
)

// Exit codes. PostgreSQL treats any non-zero archive_command status as "retry later"; for
// restore_command a missing file ends recovery, so "not found" must differ from failures
// (74, EX_IOERR, as WAL-G).
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNotFound = 74
)

type command struct {
	usage string
	run   func(ctx context.Context, e *env, args []string) int
}

var commands = map[string]command{
	"wal-push":      {"wal-push [--config F] [--uri U] [--pgdata DIR] PATH", walPush},
	"wal-fetch":     {"wal-fetch [--config F] [--uri U] [--prefetch N] NAME DEST", walFetch},
	"wal-prefetch":  {"wal-prefetch [--config F] [--uri U] [--count N] NAME DIR", walPrefetch},
	"backup-push":   {"backup-push [--config F] [--uri U] [--pgdata DIR] [--host H] [--port P] [--user U] [--permanent] [--part-size B] [--streams N] [--archive-timeout D]", backupPush},
	"backup-list":   {"backup-list [--config F] [--uri U] [--json]", backupList},
	"backup-fetch":  {"backup-fetch [--config F] [--uri U] [--tablespace OID=DIR]... [--tablespace-root DIR] [--pg-major N] NAME|LATEST DIR", backupFetch},
	"delete":        {"delete [--config F] [--uri U] [--retain-days D] [retain N | before NAME] [--confirm]", deleteCmd},
	"verify":        {"verify [--config F] [--uri U] [--json]", verify},
	"restore":       {"restore [--config F] [--uri U] [--target-time T | --target-lsn X/Y | --target-xid N | --target-name P | --target-immediate] [--target-inclusive true|false] [--timeline latest|current|N] [--action promote|pause|shutdown] [--standby] [--tablespace OID=DIR]... [--tablespace-root DIR] [--plan-only] [--json] DIR", restore},
	"restore-point": {"restore-point [--config F] [--uri U] [--host H] [--port P] [--user U] NAME", restorePoint},
}

// aliases give the generic names a prefix that says what they touch.
var aliases = map[string]string{"backup-delete": "delete", "wal-verify": "verify"}

// Commands lists the subcommand names Run handles.
func Commands() []string {
	var out []string
	for n := range commands {
		out = append(out, n)
	}
	for n := range aliases {
		out = append(out, n)
	}
	return out
}

// env is what every command shares.
type env struct {
	name           string
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	config, uri    *string
}

// Run runs subcommand name with its arguments and returns the process exit code.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	if real, ok := aliases[name]; ok {
		name = real
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "unknown archive command %q\n", name)
		return ExitUsage
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: %s\n", c.usage); fs.PrintDefaults() }
	e := &env{name: name, stdout: stdout, stderr: stderr, fs: fs}
	e.config = fs.String("config", archive.DefaultConfigPath, "archive configuration file (JSON, mode 0600)")
	e.uri = fs.String("uri", "", "archive URI overriding the configured wal_e_storage_uri")
	return c.run(ctx, e, args)
}

// parse parses flags anywhere among the arguments (restore_command puts %f %p last, people
// put flags anywhere) and checks the positional count.
func (e *env) parse(args []string, positional int) ([]string, bool) {
	var pos []string
	for {
		if err := e.fs.Parse(args); err != nil {
			return nil, false
		}
		rest := e.fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if positional >= 0 && len(pos) != positional {
		fmt.Fprintf(e.stderr, "%s: want %d arguments, got %d\n", e.name, positional, len(pos))
		e.fs.Usage()
		return nil, false
	}
	return pos, true
}

func (e *env) open(ctx context.Context) (*archive.Archive, archive.Config, error) {
	cfg, err := archive.LoadConfig(*e.config)
	if err != nil {
		return nil, cfg, err
	}
	a, err := archive.Open(ctx, cfg, *e.uri)
	if err != nil {
		return nil, cfg, err
	}
	a.Log = e.stderr
	return a, cfg, nil
}

func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "%s: %v\n", e.name, err)
	return ExitFailure
}

func walPush(ctx context.Context, e *env, args []string) int {
	pgdata := e.fs.String("pgdata", "", "data directory (default: the parent of PATH's directory)")
	ahead := e.fs.Int("ahead", 0, "other .ready files to upload ahead (default 32, negative: none)")
	pos, ok := e.parse(args, 1)
	if !ok {
		return ExitUsage
	}
	cfg, err := archive.LoadConfig(*e.config)
	if err != nil {
		return e.fail(err)
	}
	uri := cfg.URI
	if *e.uri != "" {
		uri = *e.uri
	}
	if u, err := store.ParseURI(uri); err == nil && archive.TakeMarker(pos[0], u.String()) {
		return ExitOK // uploaded ahead by an earlier call
	}
	a, err := archive.Open(ctx, cfg, *e.uri)
	if err != nil {
		return e.fail(err)
	}
	if err := a.WALPush(ctx, pos[0], archive.PushOptions{PGData: *pgdata, AheadLimit: *ahead}); err != nil {
		return e.fail(err)
	}
	return ExitOK
}

func walFetch(ctx context.Context, e *env, args []string) int {
	prefetch := e.fs.Int("prefetch", 8, "segments to prefetch in the background (0: none)")
	pos, ok := e.parse(args, 2)
	if !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	a.Log = nil
	opt := archive.FetchOptions{}
	if *prefetch > 0 {
		opt.StartPrefetch = func(name, dir string) { e.spawnPrefetch(name, dir, *prefetch) }
	}
	err = a.WALFetch(ctx, pos[0], pos[1], opt)
	if errors.Is(err, archive.ErrWALNotFound) {
		return ExitNotFound
	}
	if err != nil {
		return e.fail(err)
	}
	return ExitOK
}

// spawnPrefetch starts a detached wal-prefetch so that restore_command returns at once.
func (e *env) spawnPrefetch(name, dir string, count int) {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	args := []string{"wal-prefetch", "--config", *e.config, "--count", strconv.Itoa(count)}
	if *e.uri != "" {
		args = append(args, "--uri", *e.uri)
	}
	cmd := exec.Command(exe, append(args, name, dir)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		cmd.Process.Release()
	}
}

func walPrefetch(ctx context.Context, e *env, args []string) int {
	count := e.fs.Int("count", 8, "segments to fetch after NAME")
	pos, ok := e.parse(args, 2)
	if !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	a.Log = nil
	if err := a.WALPrefetch(ctx, pos[0], pos[1], *count); err != nil {
		return e.fail(err)
	}
	return ExitOK
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func backupPush(ctx context.Context, e *env, args []string) int {
	pgdata := e.fs.String("pgdata", os.Getenv("PGDATA"), "data directory (default: the server's data_directory)")
	host := e.fs.String("host", envOr("PGHOST", "/var/run/postgresql"), "server host or unix socket directory")
	port := e.fs.Int("port", 5432, "server port")
	user := e.fs.String("user", envOr("PGUSER", "postgres"), "user (a superuser or one granted pg_backup_start)")
	permanent := e.fs.Bool("permanent", false, "never delete this backup by retention")
	interval := e.fs.Duration("progress-interval", 5*time.Second, "time between progress lines")
	partSize := e.fs.Int64("part-size", 0, "start a new tar part beyond this many bytes (default 1 GiB, as WAL-G)")
	streams := e.fs.Int("streams", 0, "tar parts read, compressed and uploaded at once (default: CPU count, at least 2)")
	archiveTimeout := e.fs.Duration("archive-timeout", 5*time.Minute, "give up when the backup's last WAL segment is not archived and the archiver made no progress for this long")
	asJSON := e.fs.Bool("json", false, "print the committed backup as one JSON object on stdout (progress goes to stderr)")
	if p, err := strconv.Atoi(os.Getenv("PGPORT")); err == nil {
		*port = p
	}
	if _, ok := e.parse(args, 0); !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	conn := fmt.Sprintf("host='%s' port=%d user='%s' dbname=postgres application_name=pgcharm-backup-push",
		connQuote(*host), *port, connQuote(*user))
	progress := e.stdout
	if *asJSON {
		progress = e.stderr
	}
	b, err := a.BackupPush(ctx, archive.BackupOptions{ConnString: conn, PGData: *pgdata, Progress: progress,
		ProgressInterval: *interval, Permanent: *permanent, PartSize: *partSize, Streams: *streams, ArchiveTimeout: *archiveTimeout})
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		if err := json.NewEncoder(e.stdout).Encode(b); err != nil {
			return e.fail(err)
		}
		return ExitOK
	}
	fmt.Fprintf(e.stdout, "backup %s committed\n", b.Name)
	return ExitOK
}

func connQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func backupList(ctx context.Context, e *env, args []string) int {
	asJSON := e.fs.Bool("json", false, "print JSON")
	if _, ok := e.parse(args, 0); !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	list, err := a.ListBackups(ctx)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		if list == nil {
			list = []archive.Backup{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return e.fail(err)
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tformat\tstart_time\tfinish_time\ttimeline\tstart_lsn\tfinish_lsn\tsize\tstored\tsystem_identifier\tpermanent")
	for _, b := range list {
		start := "-" // WAL-E records no start time
		if !b.StartTime.IsZero() {
			start = b.StartTime.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%v\n", b.Name, b.Format, start,
			b.FinishTime.UTC().Format(time.RFC3339), b.Timeline, b.StartLSN, b.FinishLSN, b.UncompressedSize,
			b.CompressedSize, b.SystemIdentifier, b.IsPermanent)
	}
	if a.ReadFrom() != a.Store.String() {
		fmt.Fprintf(e.stderr, "read from %s\n", a.ReadFrom())
	}
	tw.Flush()
	return ExitOK
}

// tablespaceFlags adds --tablespace OID=DIR (repeatable) and --tablespace-root DIR: where a
// restore may put tablespaces. The archive's own locations are used only beneath the root.
func (e *env) tablespaceFlags() (map[string]string, *string) {
	tablespaces := map[string]string{}
	e.fs.Func("tablespace", "OID=DIR: restore tablespace OID into the empty directory DIR (repeatable)", func(v string) error {
		oid, dir, ok := strings.Cut(v, "=")
		if !ok || oid == "" || !strings.HasPrefix(dir, "/") {
			return fmt.Errorf("want OID=/absolute/dir, got %q", v)
		}
		tablespaces[oid] = dir
		return nil
	})
	root := e.fs.String("tablespace-root", "", "accept tablespace locations recorded in the backup beneath this directory")
	return tablespaces, root
}

func backupFetch(ctx context.Context, e *env, args []string) int {
	tablespaces, tsRoot := e.tablespaceFlags()
	major := e.fs.Int("pg-major", 0, "refuse a backup of another PostgreSQL major version than this one")
	pos, ok := e.parse(args, 2)
	if !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	if _, err := a.BackupFetch(ctx, pos[0], pos[1], archive.BackupFetchOptions{Progress: e.stdout, Tablespaces: tablespaces,
		TablespaceRoot: *tsRoot, PgMajor: *major}); err != nil {
		return e.fail(err)
	}
	return ExitOK
}

func deleteCmd(ctx context.Context, e *env, args []string) int {
	confirm := e.fs.Bool("confirm", false, "really delete (default: dry run)")
	days := e.fs.Int("retain-days", 0, "keep every backup younger than D days plus the newest older one (with retain N: delete only what both allow)")
	pos, ok := e.parse(args, -1)
	if !ok {
		return ExitUsage
	}
	req := archive.DeleteRequest{Confirm: *confirm, RetainDays: *days}
	if *days < 0 {
		fmt.Fprintf(e.stderr, "delete: --retain-days %d is negative\n", *days)
		return ExitUsage
	}
	switch {
	case len(pos) == 0 && *days > 0:
	case len(pos) != 2:
		fmt.Fprintf(e.stderr, "delete: want retain N, before NAME or --retain-days D\n")
		e.fs.Usage()
		return ExitUsage
	case pos[0] == "retain":
		n, err := strconv.Atoi(pos[1])
		if err != nil || n < 1 {
			fmt.Fprintf(e.stderr, "delete retain: %q is not a positive number\n", pos[1])
			return ExitUsage
		}
		req.Retain = n
	case pos[0] == "before":
		req.Before = pos[1]
	default:
		fmt.Fprintf(e.stderr, "delete: want retain N or before NAME, got %q\n", pos[0])
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	if _, err := a.Delete(ctx, req, e.stdout); err != nil {
		return e.fail(err)
	}
	return ExitOK
}

func verify(ctx context.Context, e *env, args []string) int {
	asJSON := e.fs.Bool("json", false, "print JSON")
	if _, ok := e.parse(args, 0); !ok {
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	r, err := a.Verify(ctx)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		json.NewEncoder(e.stdout).Encode(r)
	} else {
		r.Print(e.stdout)
	}
	if !r.OK() {
		return ExitFailure
	}
	return ExitOK
}

// ParseTargetTime accepts RFC 3339 and PostgreSQL's "YYYY-MM-DD HH:MM:SS[.ffffff][+TZ]" (UTC
// when no zone is given).
func ParseTargetTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("target time %q: want e.g. 2026-01-02 15:04:05+00 or RFC 3339", s)
}

func restore(ctx context.Context, e *env, args []string) int {
	target := e.fs.String("target-time", "", "recovery target time (default: the end of the archive)")
	targetLSN := e.fs.String("target-lsn", "", "recovery target LSN (X/Y)")
	targetXID := e.fs.String("target-xid", "", "recovery target transaction ID")
	targetName := e.fs.String("target-name", "", "recovery target: a restore point recorded by restore-point")
	immediate := e.fs.Bool("target-immediate", false, "recover to the end of the backup only")
	inclusive := e.fs.String("target-inclusive", "", "recovery_target_inclusive: true or false (default PostgreSQL's, true)")
	timeline := e.fs.String("timeline", "latest", "recovery_target_timeline: latest, current or a number")
	action := e.fs.String("action", "promote", "recovery_target_action: promote, pause or shutdown")
	standby := e.fs.Bool("standby", false, "restore as a standby following the archive")
	planOnly := e.fs.Bool("plan-only", false, "print the plan, fetch nothing")
	asJSON := e.fs.Bool("json", false, "print the plan as JSON")
	tablespaces, tsRoot := e.tablespaceFlags()
	pos, ok := e.parse(args, 1)
	if !ok {
		return ExitUsage
	}
	req := archive.RestoreRequest{TargetTimeline: *timeline, Standby: *standby, Action: *action, ConfigPath: *e.config, URI: *e.uri,
		TargetLSN: *targetLSN, TargetXID: *targetXID, TargetName: *targetName, TargetImmediate: *immediate}
	if *inclusive != "" {
		v, err := strconv.ParseBool(*inclusive)
		if err != nil {
			fmt.Fprintf(e.stderr, "--target-inclusive %q: want true or false\n", *inclusive)
			return ExitUsage
		}
		req.TargetInclusive = &v
	}
	if *target != "" {
		t, err := ParseTargetTime(*target)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return ExitUsage
		}
		req.TargetTime = t
	}
	exe, err := os.Executable()
	if err != nil {
		return e.fail(err)
	}
	req.Binary = exe
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	plan, err := a.PlanRestore(ctx, req)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		json.NewEncoder(e.stdout).Encode(plan)
	} else {
		fmt.Fprintf(e.stdout, "backup %s (finished %s)\n%s%s\n", plan.Backup.Name,
			plan.Backup.FinishTime.UTC().Format(time.RFC3339), plan.Settings.Conf(), plan.SignalFile)
	}
	if *planOnly {
		return ExitOK
	}
	if err := archive.Restore(ctx, a, plan, pos[0], archive.BackupFetchOptions{Progress: e.stdout, Tablespaces: tablespaces,
		TablespaceRoot: *tsRoot}); err != nil {
		return e.fail(err)
	}
	return ExitOK
}

// restorePoint creates a named restore point on the primary and records it in the archive,
// so that restore --target-name can check it before anything is stopped.
func restorePoint(ctx context.Context, e *env, args []string) int {
	host := e.fs.String("host", envOr("PGHOST", "/var/run/postgresql"), "server host or unix socket directory")
	port := e.fs.Int("port", 5432, "server port")
	user := e.fs.String("user", envOr("PGUSER", "postgres"), "user (a superuser or one granted pg_create_restore_point)")
	if p, err := strconv.Atoi(os.Getenv("PGPORT")); err == nil {
		*port = p
	}
	pos, ok := e.parse(args, 1)
	if !ok {
		return ExitUsage
	}
	if err := archive.CheckRestorePointName(pos[0]); err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitUsage
	}
	a, _, err := e.open(ctx)
	if err != nil {
		return e.fail(err)
	}
	conn := fmt.Sprintf("host='%s' port=%d user='%s' dbname=postgres application_name=pgcharm-restore-point",
		connQuote(*host), *port, connQuote(*user))
	p, err := a.CreateRestorePoint(ctx, conn, pos[0])
	if err != nil {
		return e.fail(err)
	}
	fmt.Fprintf(e.stdout, "restore point %s at %s on timeline %d (%s)\n", p.Name, p.LSN, p.Timeline, p.Time.Format(time.RFC3339Nano))
	return ExitOK
}
