package charm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/cli"
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

func init() {
	actionHandlers["wal-e-backup"] = walEBackup
	actionHandlers["wal-e-list-backups"] = walEListBackups
	actionHandlers["wal-e-restore"] = walERestore
}

// recoveryConfName holds the recovery settings of a restore in progress; it goes once the
// restored server has promoted.
const recoveryConfName = "juju-recovery.conf"

// actionLog turns lines written to it into action-log messages (progress of long actions).
type actionLog struct{ buf []byte }

func (l *actionLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(l.buf[:i])); line != "" {
			_ = goops.ActionLogf("%s", line)
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// walEBackup takes a base backup now, on the primary, as postgres (peer authentication).
func walEBackup(ctx context.Context) error {
	var p struct {
		Prune bool `json:"prune"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	app := parseAppState(j.AppBag)
	if app.Primary != j.Unit {
		return fmt.Errorf("wal-e-backup must run on the primary unit, %s (this is %s)", orUnknown(app.Primary), j.Unit)
	}
	if j.Config.WalEStorageURI == "" {
		return errors.New("wal_e_storage_uri is not set; configure the archive first")
	}
	if msg := archiveProblem(j.Config, j.Config.WalEStorageURI, "wal_e_storage_uri"); msg != "" {
		return errors.New(msg)
	}
	if err := installCharmTools(); err != nil {
		return err
	}
	if err := writeArchiveConfig(archiveConfigPath, archiveConfig(j.Config, j.Config.WalEStorageURI)); err != nil {
		return err
	}
	version, _, err := installedVersion(ctx, j.Config)
	if err != nil {
		return err
	}
	c, err := postgres.Lookup(version, clusterName)
	if err != nil {
		return fmt.Errorf("no database on this unit: %w", err)
	}
	args := []string{charmToolsBin, "backup-push", "--config", archiveConfigPath, "--pgdata", c.DataDir,
		"--port", strconv.Itoa(c.Port)}
	start := time.Now()
	out, code, runErr := runAsPostgres(ctx, args...)
	dur := time.Since(start)
	res := map[string]string{
		"wal-e-backup-cmd":   strings.Join(args, " "),
		"backup-return-code": strconv.Itoa(code),
		"duration":           dur.Round(time.Millisecond).String(),
		"wal-e-prune-cmd":    "None",
	}
	if runErr != nil {
		_ = goops.SetActionResults(res)
		return fmt.Errorf("backup-push failed (exit %d): %s", code, lastLine(out))
	}
	name := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "backup" && f[2] == "committed" {
			name = f[1]
		}
	}
	res["backup-name"] = name
	a, err := archive.Open(ctx, archiveConfig(j.Config, j.Config.WalEStorageURI), "")
	if err != nil {
		return err
	}
	if b, err := a.FindBackup(ctx, name); err == nil {
		res["expanded-size-bytes"] = plan.FormatBytes(b.UncompressedSize)
		res["compressed-size-bytes"] = plan.FormatBytes(b.CompressedSize)
	}
	if p.Prune {
		res["wal-e-prune-cmd"] = fmt.Sprintf("%s delete --config %s retain %d --confirm", charmToolsBin, archiveConfigPath,
			j.Config.WalEBackupRetention)
		if j.Config.WalEBackupRetention == 0 {
			res["prune-result"] = "wal_e_backup_retention is 0: every backup is kept"
		} else {
			dp, err := a.Delete(ctx, archive.DeleteRequest{Retain: j.Config.WalEBackupRetention, Confirm: true}, &actionLog{})
			if err != nil {
				_ = goops.SetActionResults(res)
				return fmt.Errorf("prune: %w", err)
			}
			res["prune-deleted-backups"] = strconv.Itoa(len(dp.Drop))
			res["prune-deleted-objects"] = strconv.Itoa(len(dp.Objects))
			res["prune-kept-backups"] = strconv.Itoa(len(dp.Keep))
		}
	}
	return goops.SetActionResults(res)
}

// runAsPostgres runs a command as postgres, its output going to the action log as it comes.
func runAsPostgres(ctx context.Context, argv ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", postgres.OSUser, "--"}, argv...)...)
	cmd.Dir = "/"
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var all strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			_ = goops.ActionLogf("%s", sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	code := 0
	if err != nil {
		code = -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
	}
	return all.String(), code, err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func orUnknown(s string) string {
	if s == "" {
		return "(not chosen yet)"
	}
	return s
}

// walEListBackups lists an archive's base backups, one result entry per backup.
func walEListBackups(ctx context.Context) error {
	var p struct {
		StorageURI string `json:"storage-uri"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	var cfg Config
	if err := goops.GetConfig(&cfg); err != nil {
		return err
	}
	uri := p.StorageURI
	if uri == "" {
		uri = cfg.WalEStorageURI
	}
	if uri == "" {
		return errors.New("no storage-uri given and wal_e_storage_uri is not set")
	}
	if msg := archiveProblem(cfg, uri, "storage-uri"); msg != "" {
		return errors.New(msg)
	}
	a, err := archive.Open(ctx, archiveConfig(cfg, uri), "")
	if err != nil {
		return fmt.Errorf("open %s: %w", uri, err)
	}
	list, err := a.ListBackups(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", uri, err)
	}
	res := map[string]string{"count": strconv.Itoa(len(list)), "read-from": a.ReadFrom()}
	for _, b := range list {
		k := plan.ResultKey(b.Name) + "."
		start, stop := b.StartSegment(), archive.SegmentOf(b.Timeline, b.FinishLSN)
		res[k+"name"] = b.Name
		res[k+"format"] = string(b.Format)
		if b.ExtendedVersion != "" {
			res[k+"extended-version"] = b.ExtendedVersion
		}
		if b.Unsupported != "" {
			res[k+"unsupported"] = b.Unsupported
		} else if b.IsDelta {
			res[k+"unsupported"] = "WAL-G delta backup: restore it with WAL-G's own backup-fetch"
		}
		if !b.StartTime.IsZero() { // WAL-E records no start time
			res[k+"start-time"] = b.StartTime.UTC().Format(time.RFC3339Nano)
		}
		res[k+"finish-time"] = b.FinishTime.UTC().Format(time.RFC3339Nano)
		res[k+"last-modified"] = b.Modified.UTC().Format(time.RFC3339Nano)
		res[k+"expanded-size-bytes"] = plan.FormatBytes(b.UncompressedSize)
		res[k+"compressed-size-bytes"] = plan.FormatBytes(b.CompressedSize)
		res[k+"wal-segment-backup-start"] = start.Name()
		res[k+"wal-segment-backup-stop"] = stop.Name()
		res[k+"wal-segment-offset-backup-start"] = fmt.Sprintf("%08X", uint64(b.StartLSN)%archive.SegmentSize)
		res[k+"wal-segment-offset-backup-stop"] = fmt.Sprintf("%08X", uint64(b.FinishLSN)%archive.SegmentSize)
		res[k+"start-lsn"] = b.StartLSN.String()
		res[k+"finish-lsn"] = b.FinishLSN.String()
		res[k+"timeline"] = strconv.FormatUint(uint64(b.Timeline), 10)
		if b.SystemIdentifier != 0 { // WAL-E records none
			res[k+"system-identifier"] = strconv.FormatUint(b.SystemIdentifier, 10)
		}
		res[k+"permanent"] = strconv.FormatBool(b.IsPermanent)
	}
	return goops.SetActionResults(res)
}

type restoreParams struct {
	StorageURI     string `json:"storage-uri"`
	BackupName     string `json:"backup-name"`
	TargetTime     string `json:"target-time"`
	TargetTimeline string `json:"target-timeline"`
	Confirm        bool   `json:"confirm"`
}

// walERestore replaces this unit's database with one recovered from an archive. On the
// primary the old data directory is kept aside until the restored server has promoted, and
// put back if anything fails. A standby is re-cloned from the (restored) primary, which is
// what recovering the same backup and then following the primary would converge to.
func walERestore(ctx context.Context) error {
	var p restoreParams
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	if p.BackupName == "" {
		p.BackupName = "LATEST"
	}
	if p.TargetTimeline == "" {
		p.TargetTimeline = "latest"
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	cfg := j.Config
	if strings.TrimRight(p.StorageURI, "/") == strings.TrimRight(cfg.WalEStorageURI, "/") {
		return fmt.Errorf("storage-uri %s is this application's own wal_e_storage_uri; set wal_e_storage_uri to a new, unique URI first", p.StorageURI)
	}
	if msg := archiveProblem(cfg, p.StorageURI, "storage-uri"); msg != "" {
		return errors.New(msg)
	}
	var target time.Time
	if p.TargetTime != "" {
		if target, err = cli.ParseTargetTime(p.TargetTime); err != nil {
			return err
		}
	}
	a, err := archive.Open(ctx, archiveConfig(cfg, p.StorageURI), "")
	if err != nil {
		return fmt.Errorf("open %s: %w", p.StorageURI, err)
	}
	backups, err := a.ListBackups(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", p.StorageURI, err)
	}
	if len(backups) == 0 {
		return fmt.Errorf("%s holds no complete base backup", p.StorageURI)
	}
	if err := plan.CheckTargetTime(target, backups[0].FinishTime, backups[0].Name); err != nil {
		return err
	}
	version, _, err := installedVersion(ctx, cfg)
	if err != nil {
		return err
	}
	l, err := observeLocal(ctx, version, j.Storage)
	if err != nil {
		return err
	}
	app := parseAppState(j.AppBag)
	onPrimary := app.Primary == j.Unit || (app.Primary == "" && len(j.Peers) == 0)
	if !p.Confirm {
		what := "nothing (no database here yet)"
		if l.HasData {
			rep := l.report("", "", "")
			what = fmt.Sprintf("the database in %s (system id %s, timeline %d, %s)", l.DataDir, rep.SystemID, rep.Timeline, orRole(rep.Role))
		}
		_ = goops.SetActionResults(map[string]string{"would-replace": what})
		return fmt.Errorf("not confirmed: this would replace %s; run again with confirm=true", what)
	}
	if !onPrimary {
		return restoreStandby(ctx, j, app, l)
	}
	req := archive.RestoreRequest{TargetTime: target, TargetTimeline: p.TargetTimeline, Action: "promote",
		Binary: charmToolsBin, ConfigPath: restoreConfigPath, URI: p.StorageURI}
	rp, err := a.PlanRestore(ctx, req)
	if err != nil {
		return fmt.Errorf("plan the restore: %w", err)
	}
	if p.BackupName != "LATEST" {
		if rp.Backup, err = a.FindBackup(ctx, p.BackupName); err != nil {
			return fmt.Errorf("backup %s in %s: %w", p.BackupName, p.StorageURI, err)
		}
	}
	// Delta backups, unsupported layouts and other major versions are refused here, before
	// the database is stopped.
	major, _ := strconv.Atoi(version)
	if err := archive.CheckRestorable(rp.Backup, major); err != nil {
		return err
	}
	start := time.Now()
	res, err := restorePrimary(ctx, j, l, a, rp, p)
	if err != nil {
		return err
	}
	res["duration"] = time.Since(start).Round(time.Millisecond).String()
	if err := reconcile(ctx, "wal-e-restore"); err != nil {
		return fmt.Errorf("restored, but the follow-up failed: %w", err)
	}
	return goops.SetActionResults(res)
}

func orRole(r plan.Role) string {
	if r == "" {
		return "stopped"
	}
	return string(r)
}

func restorePrimary(ctx context.Context, j *jujuFacts, l *localFacts, a *archive.Archive, rp archive.RestorePlan, p restoreParams) (map[string]string, error) {
	if err := installCharmTools(); err != nil {
		return nil, err
	}
	if err := writeArchiveConfig(restoreConfigPath, archiveConfig(j.Config, p.StorageURI)); err != nil {
		return nil, err
	}
	c := l.Cluster
	if c == nil {
		return nil, errors.New("PostgreSQL is not set up on this unit yet; wait until it is active")
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return nil, err
	}
	_ = goops.ActionLogf("restoring %s backup %s from %s, target time %q, timeline %s", rp.Backup.Format, rp.Backup.Name, a.ReadFrom(),
		rp.Settings.RecoveryTargetTime, p.TargetTimeline)
	if err := postgres.Stop(ctx, c, postgres.StopFast); err != nil {
		return nil, fmt.Errorf("stop PostgreSQL: %w", err)
	}
	moved := ""
	if l.HasData {
		if moved, err = postgres.MoveAside(c.DataDir); err != nil {
			return nil, err
		}
		_ = goops.ActionLogf("the old data directory is kept in %s until the restore succeeded", moved)
	}
	fail := func(err error) (map[string]string, error) {
		_ = postgres.Stop(ctx, c, postgres.StopImmediate)
		_ = removeIfExists(filepath.Join(c.ConfDir, "conf.d", recoveryConfName))
		_ = removeIfExists(restoreConfigPath)
		if moved != "" {
			failed := c.DataDir + ".failed-restore-" + time.Now().UTC().Format("20060102T150405")
			if rerr := os.Rename(c.DataDir, failed); rerr == nil || os.IsNotExist(rerr) {
				if rerr := os.Rename(moved, c.DataDir); rerr != nil {
					return nil, fmt.Errorf("%w; and putting the old data back failed: %v (it is in %s)", err, rerr, moved)
				}
				_ = os.RemoveAll(failed)
				_ = postgres.Start(ctx, c)
				return nil, fmt.Errorf("%w; the old database was put back", err)
			}
		}
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fail(err)
	}
	if err := os.Chown(c.DataDir, uid, gid); err != nil {
		return fail(err)
	}
	fetchStart := time.Now()
	major, _ := strconv.Atoi(c.Version)
	b, err := a.BackupFetch(ctx, rp.Backup.Name, c.DataDir, archive.BackupFetchOptions{Progress: &actionLog{}, PgMajor: major,
		Owner: &archive.FileOwner{UID: uid, GID: gid}})
	if err != nil {
		return fail(fmt.Errorf("fetch backup %s: %w", rp.Backup.Name, err))
	}
	fetched := time.Since(fetchStart)
	_ = goops.ActionLogf("backup %s fetched in %s (%d bytes)", b.Name, fetched.Round(time.Millisecond), b.UncompressedSize)
	if err := postgres.RemoveStandbyConfig(c); err != nil {
		return fail(err)
	}
	s := postgres.Settings{{Name: "restore_command", Value: rp.Settings.RestoreCommand}}
	for _, kv := range [][2]string{{"recovery_target_time", rp.Settings.RecoveryTargetTime},
		{"recovery_target_timeline", rp.Settings.RecoveryTargetTimeline}, {"recovery_target_action", rp.Settings.RecoveryTargetAction}} {
		if kv[1] != "" {
			s = append(s, postgres.Setting{Name: kv[0], Value: kv[1]})
		}
	}
	if _, err := postgres.WriteConf(c, recoveryConfName, s); err != nil {
		return fail(err)
	}
	signal := filepath.Join(c.DataDir, "recovery.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Chown(signal, uid, gid); err != nil {
		return fail(err)
	}
	recStart := time.Now()
	_ = goops.ActionLogf("starting PostgreSQL to replay WAL from %s", p.StorageURI)
	if err := postgres.Start(ctx, c); err != nil {
		return fail(fmt.Errorf("start recovery: %w", err))
	}
	facts, err := waitPromoted(ctx, c)
	if err != nil {
		return fail(err)
	}
	_ = goops.ActionLogf("recovered and promoted to timeline %d at %s in %s", facts.Timeline, facts.CurrentLSN,
		time.Since(recStart).Round(time.Millisecond))
	if err := removeIfExists(filepath.Join(c.ConfDir, "conf.d", recoveryConfName)); err != nil {
		return nil, err
	}
	// The recovery targets only take effect at start-up, so dropping them needs a restart
	// (a reload would leave them pending); nobody uses the new primary yet.
	if err := postgres.Restart(ctx, c); err != nil {
		return nil, err
	}
	// Only now that the restore succeeded: the replaced database's archive stays intact
	// when a restore fails.
	if wiped, err := takeOverOwnArchive(ctx, j.Config, l, b.SystemIdentifier); err != nil {
		_ = goops.ActionLogf("warning: %v", err)
	} else if wiped {
		archiveNow(ctx, c)
	}
	_ = removeIfExists(restoreConfigPath)
	id, err := newRestoreID()
	if err != nil {
		return nil, err
	}
	if j.PeerID != "" {
		if err := relationSet(j.PeerID, false, map[string]string{keyRestore: id, keyFollowing: ""}); err != nil {
			return nil, fmt.Errorf("publish the restore: %w", err)
		}
	}
	res := map[string]string{
		"backup-name":     b.Name,
		"format":          string(b.Format),
		"read-from":       a.ReadFrom(),
		"storage-uri":     p.StorageURI,
		"target-time":     rp.Settings.RecoveryTargetTime,
		"timeline":        strconv.Itoa(facts.Timeline),
		"lsn":             facts.CurrentLSN.String(),
		"restore-id":      id,
		"fetch-duration":  fetched.Round(time.Millisecond).String(),
		"replay-duration": time.Since(recStart).Round(time.Millisecond).String(),
	}
	if moved != "" {
		res["old-data"] = moved
	}
	return res, nil
}

// waitPromoted polls the recovering server until it left recovery, logging its progress.
func waitPromoted(ctx context.Context, c *postgres.Cluster) (*postgres.Facts, error) {
	deadline := time.Now().Add(30 * time.Minute)
	lastLog := time.Time{}
	for time.Now().Before(deadline) {
		running, err := postgres.IsRunning(ctx, c)
		if err != nil {
			return nil, err
		}
		if !running {
			return nil, fmt.Errorf("PostgreSQL stopped during recovery (target not reached?); see %s", c.LogFile())
		}
		if db, err := postgres.Connect(ctx, c, "postgres"); err == nil {
			f, err := db.Facts(ctx)
			db.Close(ctx)
			if err == nil && !f.InRecovery {
				return f, nil
			}
			if err == nil && time.Since(lastLog) > 5*time.Second {
				_ = goops.ActionLogf("replaying WAL: at %s", f.ReplayLSN)
				lastLog = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, errors.New("recovery did not finish within 30 minutes")
}

func newRestoreID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// restoreStandby makes a standby follow the restored primary: its database is moved aside and
// the unit clones the primary (which descends from the restore), then follows it.
func restoreStandby(ctx context.Context, j *jujuFacts, app AppState, l *localFacts) error {
	data, ok := j.Peers[app.Primary]
	if app.Primary == "" || !ok {
		return errors.New("no primary to follow yet; restore the primary first")
	}
	rep, _ := parseUnitReport(app.Primary, data)
	if rep.Role != plan.RolePrimary || rep.Address == "" {
		return fmt.Errorf("primary %s is not running; restore or start it first", app.Primary)
	}
	start := time.Now()
	if l.Cluster != nil && l.HasData {
		if err := postgres.Stop(ctx, l.Cluster, postgres.StopFast); err != nil {
			return err
		}
		moved, err := postgres.MoveAside(l.DataDir)
		if err != nil {
			return err
		}
		_ = goops.ActionLogf("the old data directory is kept in %s", moved)
	}
	_ = goops.ActionLogf("cloning from the restored primary %s", app.Primary)
	if err := reconcile(ctx, "wal-e-restore"); err != nil {
		return err
	}
	j2, err := observeJuju("")
	if err != nil {
		return err
	}
	if j2.Self[keyRestore] != rep.Restore {
		return fmt.Errorf("this unit did not catch up with %s's restore; see the unit's status", app.Primary)
	}
	return goops.SetActionResults(map[string]string{"following": app.Primary, "restore-id": rep.Restore,
		"duration": time.Since(start).Round(time.Millisecond).String()})
}

// takeOverOwnArchive empties the unit's own archive when it belongs to the database the
// restore just replaced (a fresh unit archives its empty database before being restored):
// the restored database could not push there otherwise. The original charm emptied it too
// ("wal-e delete everything"). An archive of any third database is left alone; the status
// then says to use a unique URI.
func takeOverOwnArchive(ctx context.Context, cfg Config, old *localFacts, restored uint64) (bool, error) {
	uri := cfg.WalEStorageURI
	if uri == "" || archiveProblem(cfg, uri, "wal_e_storage_uri") != "" || !old.HasData {
		return false, nil
	}
	oldID, _ := strconv.ParseUint(old.planLocal("", "", "").SystemID, 10, 64)
	a, err := archive.Open(ctx, archiveConfig(cfg, uri), "")
	if err != nil {
		return false, fmt.Errorf("open %s: %w", uri, err)
	}
	owner, err := a.ArchiveOwner(ctx)
	// Restoring a database in place keeps its system id: its archive stays its own.
	if err != nil || owner == nil || oldID == 0 || owner.SystemIdentifier != oldID || oldID == restored {
		return false, err
	}
	objs, err := a.Store.List(ctx, "")
	if err != nil {
		return false, err
	}
	names := make([]string, 0, len(objs))
	for _, o := range objs {
		names = append(names, o.Name)
	}
	_ = goops.ActionLogf("emptying %s (%d objects): it held the archive of the replaced database (system id %d)", uri, len(names), oldID)
	return true, a.Store.Delete(ctx, names...)
}

// archiveNow wakes the archiver, which waits up to a minute after failed pushes, with a new
// segment, and waits a little for it to catch up so that the status is right at once.
func archiveNow(ctx context.Context, c *postgres.Cluster) {
	db, err := postgres.Connect(ctx, c, "postgres")
	if err != nil {
		return
	}
	defer db.Close(ctx)
	if _, err := db.Conn().Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		return
	}
	for range 30 {
		var ok bool
		err := db.Conn().QueryRow(ctx, `SELECT last_failed_time IS NULL OR last_archived_time > last_failed_time
			FROM pg_stat_archiver`).Scan(&ok)
		if err != nil || ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}
