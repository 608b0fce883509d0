package charm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/safefs"
	"github.com/pgcharm/postgresql/internal/wal"
)

// recoveryConfName holds the recovery settings of a restore in progress; it goes once the
// restored server has promoted.
const recoveryConfName = postgres.RecoveryConfName

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
	_, m, err := primaryArchiveAction(ctx, "wal-e-backup")
	if err != nil {
		return err
	}
	l := m.local
	if l.ConfProblem != "" {
		return errors.New(l.ConfProblem)
	}
	c := l.Cluster
	if c == nil {
		return errors.New("no database on this unit yet")
	}
	args := []string{charmToolsBin, "backup-push", "--config", archiveConfigPath, "--pgdata", c.DataDir,
		"--port", strconv.Itoa(c.Port), "--json"}
	start := time.Now()
	result := &limitedBuffer{max: 1 << 20}
	out, code, runErr := runAsPostgresTo(ctx, result, args...)
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
	// backup-push reports the committed backup as JSON on its stdout (its progress went
	// to the action log).
	var b archive.Backup
	if err := json.Unmarshal(result.Bytes(), &b); err != nil || b.Name == "" {
		_ = goops.SetActionResults(res)
		return fmt.Errorf("backup-push succeeded but its result is unreadable (%v): %q", err, lastLine(result.String()))
	}
	res["backup-name"] = b.Name
	res["expanded-size-bytes"] = plan.FormatBytes(b.UncompressedSize)
	res["compressed-size-bytes"] = plan.FormatBytes(b.CompressedSize)
	if p.Prune {
		cfg := m.config
		args := plan.DeleteArgs(cfg.WalEBackupRetention, cfg.WalEBackupRetentionDays)
		res["wal-e-prune-cmd"] = fmt.Sprintf("%s delete --config %s %s --confirm", charmToolsBin, archiveConfigPath, args)
		if args == "" {
			res["wal-e-prune-cmd"] = "None"
			res["prune-result"] = "wal_e_backup_retention and wal_e_backup_retention_days are 0: every backup is kept"
		} else {
			a, err := archive.Open(ctx, archiveConfig(cfg, cfg.WalEStorageURI), "")
			if err != nil {
				_ = goops.SetActionResults(res)
				return fmt.Errorf("prune: %w", err)
			}
			dp, err := a.Delete(ctx, archive.DeleteRequest{Retain: cfg.WalEBackupRetention, RetainDays: cfg.WalEBackupRetentionDays,
				Confirm: true}, &actionLog{})
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

// primaryArchiveAction observes for an action that writes to the application's archive,
// refuses it unless this unit is the primary with a usable archive (plan.RefuseArchiveWrite),
// readies the archive tools and their configuration, and reads the local server.
func primaryArchiveAction(ctx context.Context, action string) (plan.Observed, *means, error) {
	o, m, err := observeAction(action)
	if err != nil {
		return o, nil, err
	}
	if refused := plan.RefuseArchiveWrite(action, o); refused != "" {
		return o, nil, errors.New(refused)
	}
	if err := prepareArchive(m.config); err != nil {
		return o, nil, err
	}
	return o, m, observeActionServer(ctx, &o, m)
}

// runAsPostgres runs a command as postgres, its output going to the action log as it comes.
func runAsPostgres(ctx context.Context, argv ...string) (string, int, error) {
	return runAsPostgresTo(ctx, nil, argv...)
}

// runAsPostgresTo is runAsPostgres with the command's stdout going to stdout instead of
// the action log (nil: to the log as well).
func runAsPostgresTo(ctx context.Context, stdout io.Writer, argv ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", postgres.OSUser, "--"}, argv...)...)
	cmd.Dir = "/"
	cmd.Env = postgres.ChildEnv(true)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if stdout != nil {
		cmd.Stdout = stdout
	}
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

// limitedBuffer keeps the first max bytes written to it (a command's JSON result).
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// openActionArchive opens the archive an action's storage-uri names, or this application's
// wal_e_storage_uri when it names none.
func openActionArchive(ctx context.Context) (*archive.Archive, string, error) {
	var p struct {
		StorageURI string `json:"storage-uri"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return nil, "", err
	}
	var cfg Config
	if err := goops.GetConfig(&cfg); err != nil {
		return nil, "", err
	}
	uri := p.StorageURI
	if uri == "" {
		uri = cfg.WalEStorageURI
	}
	if uri == "" {
		return nil, "", errors.New("no storage-uri given and wal_e_storage_uri is not set")
	}
	if msg := archiveProblem(cfg, uri, "storage-uri"); msg != "" {
		return nil, "", errors.New(msg)
	}
	a, err := archive.Open(ctx, archiveConfig(cfg, uri), "")
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", uri, err)
	}
	return a, uri, nil
}

// walEListBackups lists an archive's base backups, one result entry per backup.
func walEListBackups(ctx context.Context) error {
	a, uri, err := openActionArchive(ctx)
	if err != nil {
		return err
	}
	list, err := a.ListBackups(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", uri, err)
	}
	res := map[string]string{"count": strconv.Itoa(len(list)), "read-from": a.ReadFrom()}
	for _, b := range list {
		k := plan.ResultKey(b.Name) + "."
		start, stop := b.StartSegment(), wal.SegmentOf(b.Timeline, b.FinishLSN)
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
		res[k+"wal-segment-offset-backup-start"] = fmt.Sprintf("%08X", uint64(b.StartLSN)%wal.SegmentSize)
		res[k+"wal-segment-offset-backup-stop"] = fmt.Sprintf("%08X", uint64(b.FinishLSN)%wal.SegmentSize)
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
	StorageURI      string      `json:"storage-uri"`
	BackupName      string      `json:"backup-name"`
	TargetTime      string      `json:"target-time"`
	TargetLSN       string      `json:"target-lsn"`
	TargetXID       paramString `json:"target-xid"`
	TargetName      paramString `json:"target-name"`
	Target          string      `json:"target"`
	TargetInclusive *bool       `json:"target-inclusive"`
	TargetTimeline  paramString `json:"target-timeline"`
	Tablespaces     string      `json:"tablespaces"`
	Confirm         bool        `json:"confirm"`
}

// paramString is an action parameter declared [string, integer]: `juju run` types values by
// their YAML form, so target-timeline=2 or target-xid=1234 arrive as numbers, and a string
// schema alone would refuse them.
type paramString string

func (p *paramString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = paramString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or an integer, got %s", b)
	}
	*p = paramString(n.String())
	return nil
}

// restoreTarget checks the target parameters alone (at most one target; each well formed)
// and turns them into the engine's request, so that a bad combination fails the action
// before anything is looked at, let alone stopped. Whether the archive can reach the target
// is PlanRestore's to say, still before anything is stopped.
func restoreTarget(p restoreParams) (archive.RestoreRequest, error) {
	req := archive.RestoreRequest{TargetTimeline: string(p.TargetTimeline), Action: "promote", TargetInclusive: p.TargetInclusive,
		TargetLSN: strings.TrimSpace(p.TargetLSN), TargetXID: strings.TrimSpace(string(p.TargetXID)), TargetName: strings.TrimSpace(string(p.TargetName))}
	var given []string
	if strings.TrimSpace(p.TargetTime) != "" {
		t, err := cli.ParseTargetTime(p.TargetTime)
		if err != nil {
			return req, err
		}
		req.TargetTime = t
		given = append(given, "target-time")
	}
	if req.TargetLSN != "" {
		if _, err := wal.ParseLSN(req.TargetLSN); err != nil {
			return req, fmt.Errorf("target-lsn: %w", err)
		}
		given = append(given, "target-lsn")
	}
	if req.TargetXID != "" {
		if _, err := archive.ParseXID(req.TargetXID); err != nil {
			return req, err
		}
		given = append(given, "target-xid")
	}
	if req.TargetName != "" {
		if err := archive.CheckRestorePointName(req.TargetName); err != nil {
			return req, fmt.Errorf("target-name: %w", err)
		}
		given = append(given, "target-name")
	}
	switch strings.TrimSpace(p.Target) {
	case "", "latest":
	case "immediate":
		req.TargetImmediate = true
		given = append(given, "target=immediate")
	default:
		return req, fmt.Errorf("target %q: want immediate (the end of the backup) or latest (the end of the archive)", p.Target)
	}
	if len(given) > 1 {
		return req, fmt.Errorf("give one recovery target, not %s", strings.Join(given, " and "))
	}
	if p.TargetInclusive != nil && req.TargetTime.IsZero() && req.TargetLSN == "" && req.TargetXID == "" {
		return req, errors.New("target-inclusive applies to target-time, target-lsn and target-xid only")
	}
	return req, nil
}

// describeTarget says what a restore plan recovers to, for the action's log and results.
func describeTarget(s archive.RecoverySettings) string {
	switch {
	case s.RecoveryTarget != "":
		return s.RecoveryTarget
	case s.RecoveryTargetTime != "":
		return "time " + s.RecoveryTargetTime
	case s.RecoveryTargetLSN != "":
		return "lsn " + s.RecoveryTargetLSN
	case s.RecoveryTargetXID != "":
		return "xid " + s.RecoveryTargetXID
	case s.RecoveryTargetName != "":
		return "restore point " + s.RecoveryTargetName
	}
	return "latest"
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
	o, m, err := observeAction("wal-e-restore")
	if err != nil {
		return err
	}
	cfg := m.config
	if refused := plan.RefuseRestoreSource(plan.RestoreSource{URI: p.StorageURI, Own: sameArchive(p.StorageURI, cfg.WalEStorageURI),
		Problem: archiveProblem(cfg, p.StorageURI, "storage-uri")}); refused != "" {
		return errors.New(refused)
	}
	req, err := restoreTarget(p)
	if err != nil {
		return err
	}
	tablespaces, err := parseTablespaceMap(p.Tablespaces)
	if err != nil {
		return err
	}
	target := req.TargetTime
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
	if err := observeActionServer(ctx, &o, m); err != nil {
		return err
	}
	d := plan.DecideRestore(o, m.local.DataDir, p.Confirm)
	if d.WouldReplace != "" {
		_ = goops.SetActionResults(map[string]string{"would-replace": d.WouldReplace})
	}
	switch {
	case d.Refused != "":
		return errors.New(d.Refused)
	case !d.OnPrimary:
		return restoreStandby(ctx, m, d)
	}
	req.Binary, req.ConfigPath, req.URI = charmToolsBin, restoreConfigPath, p.StorageURI
	rp, err := a.PlanRestore(ctx, req)
	if err != nil {
		return err // "plan restore: ..."
	}
	if p.BackupName != "LATEST" {
		if rp.Backup, err = a.FindBackup(ctx, p.BackupName); err != nil {
			return fmt.Errorf("backup %s in %s: %w", p.BackupName, p.StorageURI, err)
		}
	}
	// Delta backups, unsupported layouts and other major versions are refused here, before
	// the database is stopped.
	major, _ := strconv.Atoi(o.Version.Major)
	if err := archive.CheckRestorable(rp.Backup, major); err != nil {
		return err
	}
	start := time.Now()
	res, err := restorePrimary(ctx, o, m, a, rp, p, tablespaces)
	if err != nil {
		return err
	}
	res["duration"] = time.Since(start).Round(time.Millisecond).String()
	if err := reconcile(ctx, "wal-e-restore"); err != nil {
		return fmt.Errorf("restored, but the follow-up failed: %w", err)
	}
	return goops.SetActionResults(res)
}

// restorePrimary restores the primary's database from the archive (the decision's
// plan.RestoreDecision.OnPrimary).
func restorePrimary(ctx context.Context, o plan.Observed, m *means, a *archive.Archive, rp archive.RestorePlan, p restoreParams,
	tablespaces map[string]string) (map[string]string, error) {
	l := m.local
	if err := installCharmTools(); err != nil {
		return nil, err
	}
	if err := writeArchiveConfig(restoreConfigPath, archiveConfig(m.config, p.StorageURI)); err != nil {
		return nil, err
	}
	c := l.Cluster
	if c == nil {
		return nil, errors.New("PostgreSQL is not set up on this unit yet; wait until it is active")
	}
	uid, gid, err := postgres.UserIDs()
	if err != nil {
		return nil, err
	}
	if err := prepareTablespaces(rp.Backup, o.Storage, tablespaces, c.DataDir, &safefs.Owner{UID: uid, GID: gid}); err != nil {
		return nil, err
	}
	_ = goops.ActionLogf("restoring %s backup %s from %s, target %s, timeline %s", rp.Backup.Format, rp.Backup.Name, a.ReadFrom(),
		describeTarget(rp.Settings), p.TargetTimeline)
	// Each phase is recorded before it begins, so that a restore killed half-way leaves a
	// state the next hook recognises (plan.InterruptedRestore) and the old data can be put
	// back (wal-e-restore-undo).
	kept, err := keptByInterruptedRestore()
	if err != nil {
		return nil, err
	}
	marker := plan.RestoreMarker{Backup: rp.Backup.Name, URI: p.StorageURI, Phase: plan.RestoreStarted, Moved: kept}
	if err := writeRestoreMarker(marker); err != nil {
		return nil, err
	}
	if err := postgres.Stop(ctx, c, postgres.StopFast); err != nil {
		return nil, fmt.Errorf("stop PostgreSQL: %w", err)
	}
	moved := kept
	marker.Phase = plan.RestoreFetching
	if err := writeRestoreMarker(marker); err != nil {
		return nil, err
	}
	switch {
	case kept != "":
		// What the interrupted restore left in the data directory is a partial copy of a
		// backup; the database before it stays where that restore kept it.
		_ = goops.ActionLogf("an interrupted restore kept the old data directory in %s; discarding its partial copy", kept)
		if err := os.RemoveAll(c.DataDir); err != nil {
			return nil, fmt.Errorf("discard the partial restore: %w", err)
		}
	case l.HasData:
		if moved, err = postgres.MoveAsideAs(c.DataDir, "restore"); err != nil {
			return nil, err
		}
		marker.Moved = moved
		if err := writeRestoreMarker(marker); err != nil {
			return nil, err
		}
		_ = goops.ActionLogf("the old data directory is kept in %s until the restore succeeded", moved)
	}
	fail := func(err error) (map[string]string, error) {
		_ = postgres.Stop(ctx, c, postgres.StopImmediate)
		if moved == "" {
			_ = removeIfExists(filepath.Join(c.ConfDir, "conf.d", recoveryConfName))
			_ = removeIfExists(restoreConfigPath)
			_ = removeRestoreMarker()
			return nil, err
		}
		if rerr := putBackOldData(ctx, c, moved); rerr != nil {
			return nil, fmt.Errorf("%w; and putting the old data back failed: %v (it is in %s)", err, rerr, moved)
		}
		_ = postgres.Start(ctx, c)
		return nil, fmt.Errorf("%w; the old database was put back", err)
	}
	owner := &safefs.Owner{UID: uid, GID: gid}
	if err := makeOwnedDir(c.DataDir, owner); err != nil {
		return fail(err)
	}
	// The archive is not trusted: postgres extracts it (never root), beneath the data
	// directory and the tablespace locations prepared above, with no link followed.
	fetchStart := time.Now()
	args := []string{charmToolsBin, "backup-fetch", "--config", restoreConfigPath, "--pg-major", c.Version}
	if o.Storage != "" {
		args = append(args, "--tablespace-root", o.Storage)
	}
	for _, oid := range sortedStrings(tablespaces) {
		args = append(args, "--tablespace", oid+"="+tablespaces[oid])
	}
	args = append(args, rp.Backup.Name, c.DataDir)
	if out, code, err := runAsPostgres(ctx, args...); err != nil {
		return fail(fmt.Errorf("fetch backup %s (exit %d): %s", rp.Backup.Name, code, lastLine(out)))
	}
	b := rp.Backup
	fetched := time.Since(fetchStart)
	marker.Phase = plan.RestoreRecovering
	if err := writeRestoreMarker(marker); err != nil {
		return fail(err)
	}
	_ = goops.ActionLogf("backup %s fetched in %s (%d bytes)", b.Name, fetched.Round(time.Millisecond), b.UncompressedSize)
	var s pgconf.Settings
	for _, kv := range rp.Settings.Pairs() { // restore_command and the target's settings
		s = append(s, pgconf.Setting{Name: kv[0], Value: kv[1]})
	}
	recStart := time.Now()
	_ = goops.ActionLogf("starting PostgreSQL to replay WAL from %s", p.StorageURI)
	facts, err := postgres.Recover(ctx, c, postgres.RecoverOptions{Settings: s, Owner: owner,
		Progress: func(l wal.LSN) { _ = goops.ActionLogf("replaying WAL: at %s", l) }})
	if err != nil {
		return fail(err)
	}
	_ = goops.ActionLogf("recovered and promoted to timeline %d at %s in %s", facts.Timeline, facts.CurrentLSN,
		time.Since(recStart).Round(time.Millisecond))
	if err := removeRestoreMarker(); err != nil {
		return nil, err
	}
	// Archives are never deleted implicitly: the unit's own archive keeps the backups of
	// the database before the restore, and archiving resumes only where this one may go.
	ownArchive := ""
	if resume, msg, err := ownArchiveAfterRestore(ctx, m.config, l, restoredID(facts, b)); err != nil {
		_ = goops.ActionLogf("warning: %v", err)
	} else if msg != "" {
		ownArchive = msg
		_ = goops.ActionLogf("%s", msg)
	} else if resume {
		archiveNow(ctx, c)
	}
	_ = removeIfExists(restoreConfigPath)
	id, err := newRestoreID()
	if err != nil {
		return nil, err
	}
	if o.PeerRelation != "" {
		if err := relationSet(o.PeerRelation, false, map[string]string{plan.KeyRestore: id, plan.KeyFollowing: ""}); err != nil {
			return nil, fmt.Errorf("publish the restore: %w", err)
		}
	}
	res := map[string]string{
		"backup-name":     b.Name,
		"format":          string(b.Format),
		"read-from":       a.ReadFrom(),
		"storage-uri":     p.StorageURI,
		"target-time":     rp.Settings.RecoveryTargetTime,
		"target":          describeTarget(rp.Settings),
		"timeline":        strconv.Itoa(facts.Timeline),
		"lsn":             facts.CurrentLSN.String(),
		"restore-id":      id,
		"fetch-duration":  fetched.Round(time.Millisecond).String(),
		"replay-duration": time.Since(recStart).Round(time.Millisecond).String(),
	}
	if moved != "" {
		res["old-data"] = moved
	}
	if ownArchive != "" {
		res["archiving"] = ownArchive
	}
	return res, nil
}

func newRestoreID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// restoreStandby makes a standby follow the restored primary (the decision's
// plan.RestoreDecision.Follow): its database is moved aside and the unit clones the
// primary (which descends from the restore), then follows it.
func restoreStandby(ctx context.Context, m *means, d plan.RestoreDecision) error {
	l := m.local
	start := time.Now()
	kept, err := keptByInterruptedRestore()
	if err != nil {
		return err
	}
	switch {
	case l.Cluster != nil && kept != "":
		// An interrupted restore of this unit kept its old data there: that copy stays,
		// and the partial one goes.
		if err := postgres.Stop(ctx, l.Cluster, postgres.StopFast); err != nil {
			return err
		}
		if err := os.RemoveAll(l.DataDir); err != nil {
			return fmt.Errorf("discard the partial restore: %w", err)
		}
		_ = goops.ActionLogf("the old data directory stays in %s", kept)
	case l.Cluster != nil && l.HasData:
		if err := postgres.Stop(ctx, l.Cluster, postgres.StopFast); err != nil {
			return err
		}
		moved, err := postgres.MoveAsideAs(l.DataDir, "restore")
		if err != nil {
			return err
		}
		_ = goops.ActionLogf("the old data directory is kept in %s", moved)
	}
	if err := removeRestoreMarker(); err != nil {
		return err
	}
	_ = goops.ActionLogf("cloning from the restored primary %s", d.Follow)
	if err := reconcile(ctx, "wal-e-restore"); err != nil {
		return err
	}
	j, err := observeJuju("")
	if err != nil {
		return err
	}
	if j.Self[plan.KeyRestore] != d.FollowRestore {
		return fmt.Errorf("this unit did not catch up with %s's restore; see the unit's status", d.Follow)
	}
	return goops.SetActionResults(map[string]string{"following": d.Follow, "restore-id": d.FollowRestore,
		"duration": time.Since(start).Round(time.Millisecond).String()})
}

// stateRestoredOver records the system id of the database a restore replaced while the
// unit's own archive belonged to it, so that the status says why that archive is not used.
const stateRestoredOver = "restored-over"

// restoreArchiveMessage is the status after a restore over a database whose archive is the
// unit's wal_e_storage_uri.
func restoreArchiveMessage(uri string, old uint64) string {
	return fmt.Sprintf("wal_e_storage_uri %s holds the archive of the database before the restore (system id %d): "+
		"set wal_e_storage_uri to a new, empty location; the old archive keeps the backups of the database before the restore", uri, old)
}

// restoredID is the restored server's system identifier (the backup's, which WAL-E's
// sentinels do not record).
func restoredID(f *postgres.Facts, b archive.Backup) uint64 {
	if id, err := strconv.ParseUint(f.SystemIdentifier, 10, 64); err == nil && id != 0 {
		return id
	}
	return b.SystemIdentifier
}

// ownArchiveAfterRestore decides whether archiving resumes into the unit's own archive after
// a restore: only when it is empty or the restored database's own. An archive of the replaced
// database (or any other) is never deleted or claimed: the unit blocks until the operator
// names a new, empty location. The original charm emptied it ("wal-e delete everything"),
// which with a URI of a whole bucket took other applications' archives too.
func ownArchiveAfterRestore(ctx context.Context, cfg Config, old *localFacts, restored uint64) (resume bool, msg string, err error) {
	uri := cfg.WalEStorageURI
	if uri == "" || archiveProblem(cfg, uri, "wal_e_storage_uri") != "" {
		return false, "", nil
	}
	a, err := archive.Open(ctx, archiveConfig(cfg, uri), "")
	if err != nil {
		return false, "", fmt.Errorf("open %s: %w", uri, err)
	}
	owner, err := a.ArchiveOwner(ctx)
	if err != nil {
		return false, "", err
	}
	switch {
	case owner == nil:
		return true, "", nil // the first push claims it (when it holds nothing of another database)
	case owner.SystemIdentifier == restored:
		return true, "", nil
	}
	if oldID, _ := strconv.ParseUint(old.planLocal("", "", "").SystemID, 10, 64); old.HasData && oldID == owner.SystemIdentifier {
		if err := goops.SetState(stateRestoredOver, strconv.FormatUint(oldID, 10)); err != nil {
			return false, "", err
		}
		return false, restoreArchiveMessage(uri, oldID), nil
	}
	return false, "", nil // another database's: the archive check says so
}

// archiveNow wakes the archiver, which waits up to a minute after failed pushes, with a new
// segment, and waits a little for it to catch up so that the status is right at once.
func archiveNow(ctx context.Context, c *postgres.Cluster) {
	db, err := postgres.Connect(ctx, c, "postgres")
	if err != nil {
		return
	}
	defer db.Close(ctx)
	if err := db.SwitchWAL(ctx); err != nil {
		return
	}
	for range 30 {
		st, err := db.Archiver(ctx)
		if err != nil || !st.Failing {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// walERestorePoint creates a named restore point on the primary and records it in the
// archive, so that wal-e-restore target-name=NAME can later be checked before anything is
// stopped. The charm tools run it as postgres (peer authentication), like backup-push.
func walERestorePoint(ctx context.Context) error {
	var p struct {
		Name string `json:"name"`
	}
	if err := goops.GetActionParams(&p); err != nil {
		return err
	}
	if err := archive.CheckRestorePointName(p.Name); err != nil {
		return err
	}
	_, m, err := primaryArchiveAction(ctx, "wal-e-restore-point")
	if err != nil {
		return err
	}
	c := m.local.Cluster
	if c == nil {
		return errors.New("no database on this unit")
	}
	out, code, runErr := runAsPostgres(ctx, charmToolsBin, "restore-point", "--config", archiveConfigPath,
		"--port", strconv.Itoa(c.Port), p.Name)
	if runErr != nil {
		return fmt.Errorf("restore point %s failed (exit %d): %s", p.Name, code, lastLine(out))
	}
	res, err := parseRestorePoint(out)
	if err != nil {
		return err
	}
	res["storage-uri"] = m.config.WalEStorageURI
	return goops.SetActionResults(res)
}

// parseRestorePoint reads the tools' "restore point NAME at LSN on timeline N (TIME)" line.
func parseRestorePoint(out string) (map[string]string, error) {
	for _, l := range strings.Split(out, "\n") {
		var name, lsn, at string
		var tli int
		if n, _ := fmt.Sscanf(l, "restore point %s at %s on timeline %d (%s", &name, &lsn, &tli, &at); n == 4 {
			return map[string]string{"name": name, "lsn": lsn, "timeline": strconv.Itoa(tli), "time": strings.TrimSuffix(at, ")")}, nil
		}
	}
	return nil, fmt.Errorf("restore point: unexpected output: %s", lastLine(out))
}

// walEVerify runs the engine's verify on this application's archive (or storage-uri): the WAL
// recovery would read along the newest timeline from the oldest backup to the newest segment,
// and each backup's tar objects. Findings are results (ok=false), not an action failure: the
// action did its job.
func walEVerify(ctx context.Context) error {
	a, uri, err := openActionArchive(ctx)
	if err != nil {
		return err
	}
	_ = goops.ActionLogf("verifying %s", uri)
	r, err := a.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify %s: %w", uri, err)
	}
	res := verifyResults(r)
	res["storage-uri"] = uri
	res["read-from"] = a.ReadFrom()
	return goops.SetActionResults(res)
}

// verifyResults turns a report into action results: a summary, the gaps, and per backup
// what was read and what is wrong.
func verifyResults(r archive.VerifyReport) map[string]string {
	missing := 0
	var gaps []string
	for _, g := range append(append([]archive.Gap{}, r.Gaps...), r.Other...) {
		missing += int(g.Last.SegNo-g.First.SegNo) + 1
		if g.First == g.Last {
			gaps = append(gaps, g.First.Name())
		} else {
			gaps = append(gaps, g.First.Name()+".."+g.Last.Name())
		}
	}
	res := map[string]string{
		"ok":               strconv.FormatBool(r.OK()),
		"timeline":         strconv.FormatUint(uint64(r.Timeline.TLI), 10),
		"segments-checked": strconv.Itoa(r.Checked),
		"segments-missing": strconv.Itoa(missing),
		"backups-checked":  strconv.Itoa(len(r.Backups)),
	}
	if r.Checked > 0 {
		res["from"], res["to"] = r.From.Name(), r.To.Name()
	}
	if len(gaps) > 0 {
		res["gaps"] = strings.Join(gaps, " ")
	}
	if len(r.OffBranch) > 0 {
		res["off-branch-backups"] = strings.Join(r.OffBranch, " ")
	}
	if len(r.Problems) > 0 {
		res["problems"] = strings.Join(r.Problems, "; ")
	}
	for _, b := range r.Backups {
		k := "backups." + plan.ResultKey(b.Name) + "."
		res[k+"format"] = string(b.Format)
		res[k+"tar-objects-readable"] = strconv.Itoa(b.Parts)
		if len(b.Problems) > 0 {
			res[k+"problems"] = strings.Join(b.Problems, "; ")
		}
	}
	return res
}
