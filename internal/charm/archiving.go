package charm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// Continuous archiving, scheduled backups and point-in-time recovery (wal_e_storage_uri).
// plan.Decide puts archive_command into every unit's settings (archive_mode stays on so that
// configuring archiving never needs a restart; archive_mode=on archives on the primary only),
// restoreCommand is given to standbys, and archiving() runs after the unit converged
// (credentials file, cron entry on the primary, archive checks, status).

// PostgreSQL runs archive_command and restore_command as postgres, and the charm binary under
// /var/lib/juju may not be reachable by that user, so a copy lives next to the archive
// configuration in a root-owned directory postgres can enter. Every directory above it is
// root's too: the failover agent runs this copy as root, and in postgres's own home
// (/var/lib/postgresql, where it lived before) postgres could rename root's directory and
// put its own program in its place (TestPostgresCannotReplaceTheAgent).
const (
	charmToolsDir     = "/usr/local/lib/postgresql-charm"
	charmToolsBin     = charmToolsDir + "/pgcharm"
	archiveConfigPath = charmToolsDir + "/archive.json"
	restoreConfigPath = charmToolsDir + "/restore.json"
	cronPath          = "/etc/cron.d/juju-postgresql"
	archiveCheckState = "archive-check"
)

// prepareArchive installs the charm's tools where postgres runs them and writes the
// archive configuration.
func prepareArchive(cfg Config) error {
	if err := installCharmTools(); err != nil {
		return err
	}
	return writeArchiveConfig(archiveConfigPath, archiveConfig(cfg, cfg.WalEStorageURI))
}

// archiveCredentials are the store credentials among the charm's options.
func archiveCredentials(c Config) store.Credentials {
	return store.Credentials{
		OSAuthURL: c.OSAuthURL, OSUsername: c.OSUsername, OSPassword: c.OSPassword, OSTenantName: c.OSTenantName,
		OSProjectName: c.OSProjectName, OSRegionName: c.OSRegionName, OSUserDomainName: c.OSUserDomainName,
		OSProjectDomainName: c.OSProjectDomainName, OSIdentityAPIVersion: c.OSIdentityAPIVersion,
		AWSAccessKeyID: c.AWSAccessKeyID, AWSSecretAccessKey: c.AWSSecretAccessKey, AWSRegion: c.AWSRegion,
		AWSEndpoint: c.AWSEndpoint, WABSAccountName: c.WABSAccountName, WABSAccessKey: c.WABSAccessKey,
		AzureEndpoint: c.AzureEndpoint, GCSCredentials: c.GCSCredentials, GCSEndpoint: c.GCSEndpoint,
	}
}

// archiveConfig is the archive engine's configuration for uri with the charm's credentials.
func archiveConfig(c Config, uri string) archive.Config {
	return archive.Config{Credentials: archiveCredentials(c), URI: uri, Compression: c.WalECompression}
}

// canonicalURI is the form two spellings of one archive share: the scheme in lower case,
// wabs:// as azure://, the prefix without empty segments or slashes around it. "" when the
// URI does not parse.
func canonicalURI(uri string) string {
	u, err := store.ParseURI(uri)
	if err != nil {
		return ""
	}
	if u.Scheme == "wabs" {
		u.Scheme = "azure"
	}
	return u.String()
}

// sameArchive says whether two URIs name the same archive (compared in canonical form, so
// that wabs://c/p, S3:// or s3://b//p do not pass for another place than azure://c/p,
// s3:// and s3://b/p).
func sameArchive(a, b string) bool {
	ca, cb := canonicalURI(a), canonicalURI(b)
	if ca == "" || cb == "" {
		return strings.TrimRight(strings.TrimSpace(a), "/") == strings.TrimRight(strings.TrimSpace(b), "/")
	}
	return ca == cb
}

// archiveProblem is what is wrong with uri and the credentials before any store is asked.
func archiveProblem(c Config, uri, option string) string {
	u, err := store.ParseURI(uri)
	if err != nil {
		return fmt.Sprintf("%s: %v", option, err)
	}
	if missing := store.MissingCredentials(u, archiveCredentials(c)); len(missing) > 0 {
		return fmt.Sprintf("%s %s needs %s; set them with juju config", option, uri, strings.Join(missing, ", "))
	}
	return ""
}

func (r *applying) restoreCommand() string {
	if !r.decide().Archive.Enabled {
		return ""
	}
	return archive.RestoreCommand(charmToolsBin, archiveConfigPath, "")
}

// archiving keeps the credentials file, the backup schedule and the record of the archive
// check in line with the decision (plan.ArchivePlan).
func (r *applying) archiving(p plan.ArchivePlan) error {
	if err := r.standbyRestoreCommand(); err != nil {
		return err
	}
	if !p.Enabled {
		if err := removeIfExists(archiveConfigPath); err != nil {
			return err
		}
		if err := removeIfExists(cronPath); err != nil {
			return err
		}
		return goops.SetState(archiveCheckState, "")
	}
	if p.Cron == "" {
		if err := removeIfExists(cronPath); err != nil {
			return err
		}
	} else if err := writeIfChanged(cronPath, []byte(p.Cron), 0o644, -1, -1); err != nil {
		return err
	}
	if rec := r.archiveRecord; rec != "" {
		if err := goops.SetState(archiveCheckState, rec); err != nil {
			goops.LogWarningf("record the archive check: %v", err)
		}
	}
	return nil
}

// observeArchive asks the store, once per change of the URI, the credentials or the
// database, whether the credentials work and whether the archive is this database's, and
// reads the primary's archiver. The unit's state keeps a hash of what was checked (never
// the credentials) and the problem found; a new answer is left in archiveRecord for apply
// to keep.
func observeArchive(ctx context.Context, o *plan.Observed, m *means) {
	a := &o.Archive
	if a.URI == "" || a.Problem != "" {
		return
	}
	sysid := ""
	if m.local.Server != nil {
		sysid = m.local.Server.SystemIdentifier
	}
	a.Store, m.archiveRecord = checkArchive(ctx, m.config, sysid)
	if a.Store == "" && m.local.Running && !m.local.Standby {
		a.Failing, a.LastFailedWAL, a.Ready = archiverFacts(ctx, m.local)
	}
}

// checkArchive is the store's answer for the configuration and database, from the unit's
// record when it was asked before, and the record to keep when it was asked now.
func checkArchive(ctx context.Context, cfg Config, sysid string) (msg, record string) {
	key, _ := json.Marshal(struct {
		C     archive.Config
		SysID string
	}{archiveConfig(cfg, cfg.WalEStorageURI), sysid})
	sum := sha256.Sum256(key)
	hash := hex.EncodeToString(sum[:])
	if prev, err := goops.GetState(archiveCheckState); err == nil {
		if h, msg, ok := strings.Cut(prev, "\n"); ok && h == hash {
			return msg, ""
		}
	}
	msg = probeArchive(ctx, cfg, sysid)
	if msg == "" || !strings.Contains(msg, "unreachable") {
		record = hash + "\n" + msg
	}
	return msg, record
}

func probeArchive(ctx context.Context, cfg Config, sysid string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	uri := cfg.WalEStorageURI
	a, err := archive.Open(ctx, archiveConfig(cfg, uri), "")
	if err == nil {
		err = store.Check(ctx, a.Store)
	}
	if errors.Is(err, store.ErrAuth) || authFailure(err) {
		return fmt.Sprintf("wal_e_storage_uri %s: the store rejects the credentials (%v); fix the credential options", uri, err)
	}
	if err != nil {
		goops.LogWarningf("archive check of %s: %v", uri, err)
		return fmt.Sprintf("wal_e_storage_uri %s is unreachable: %v; check the URI and the endpoint options", uri, err)
	}
	return foreignArchive(ctx, a, uri, sysid)
}

// foreignArchive names the other database an archive belongs to, if any.
func foreignArchive(ctx context.Context, a *archive.Archive, uri, sysid string) string {
	if sysid == "" {
		return ""
	}
	owner, err := a.ArchiveOwner(ctx)
	if err != nil {
		return ""
	}
	ours, _ := strconv.ParseUint(sysid, 10, 64)
	if owner == nil {
		// Nobody claimed it: the first push would, unless it holds another database's
		// backups or another tool's WAL, which the status says before a push fails on it.
		var ue *archive.UnclaimedError
		if err := a.CheckUnclaimed(ctx, ours); ours != 0 && errors.As(err, &ue) {
			return fmt.Sprintf("wal_e_storage_uri %s: %v", uri, err)
		}
		return ""
	}
	if ours != 0 && owner.SystemIdentifier != ours {
		if over, _ := goops.GetState(stateRestoredOver); over == strconv.FormatUint(owner.SystemIdentifier, 10) {
			return restoreArchiveMessage(uri, owner.SystemIdentifier)
		}
		return fmt.Sprintf("wal_e_storage_uri %s holds the archive of another database (system id %d, ours %s); use a unique URI",
			uri, owner.SystemIdentifier, sysid)
	}
	return ""
}

// archiverFacts are the primary's archiver: failed pushes newer than the last success, and
// the segments waiting.
func archiverFacts(ctx context.Context, l *localFacts) (failing bool, lastFailed string, ready int) {
	files, _ := filepath.Glob(filepath.Join(l.DataDir, "pg_wal", "archive_status", "*.ready"))
	db, err := postgres.Connect(ctx, l.Cluster, "postgres")
	if err != nil {
		return false, "", 0
	}
	defer db.Close(ctx)
	st, err := db.Archiver(ctx)
	if err != nil {
		goops.LogWarningf("%v", err)
		return false, "", 0
	}
	return st.Failing, st.LastFailedWAL, len(files)
}

// installCharmTools copies the running binary where postgres can run it, when it differs.
func installCharmTools() error {
	if err := os.MkdirAll(charmToolsDir, 0o755); err != nil {
		return fmt.Errorf("install the archive tools: %w", err)
	}
	if err := os.Chmod(charmToolsDir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if self == charmToolsBin {
		return nil
	}
	if same, err := sameFile(self, charmToolsBin); err != nil || same {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := atomicfile.Write(context.Background(), charmToolsBin, in, 0o755, nil); err != nil {
		return fmt.Errorf("install the archive tools: %w", err)
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || sa.Size() != sb.Size() {
		return false, err
	}
	ha, err := fileHash(a)
	if err != nil {
		return false, err
	}
	hb, err := fileHash(b)
	return err == nil && bytes.Equal(ha, hb), err
}

func fileHash(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// writeArchiveConfig writes the archive configuration, credentials included, readable by
// postgres only. A changed file is replaced whole, so old secrets do not linger.
func writeArchiveConfig(path string, c archive.Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	uid, gid, err := postgres.UserIDs()
	if err != nil {
		return err
	}
	if err := writeIfChanged(path, append(data, '\n'), 0o600, uid, gid); err != nil {
		return fmt.Errorf("write the archive configuration: %w", err)
	}
	return nil
}

// writeIfChanged replaces path atomically unless it already holds data; the file gets
// mode and owner either way (uid -1: root's).
func writeIfChanged(path string, data []byte, mode os.FileMode, uid, gid int) error {
	if uid < 0 {
		uid, gid = 0, 0
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_, err := atomicfile.WriteIfChanged(path, data, mode, &atomicfile.Owner{UID: uid, GID: gid})
	return err
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// standbyRestoreCommand keeps a settled standby's restore_command in line with the archive
// configuration (setting or clearing wal_e_storage_uri); converge only writes the standby
// settings when the standby starts following.
func (r *applying) standbyRestoreCommand() error {
	l, d := r.local, r.decide()
	if !d.RefreshStandby {
		return nil
	}
	up, err := r.upstream(d.Target)
	if err != nil {
		return nil
	}
	changed, err := postgres.WriteStandbyConfig(l.Cluster, postgres.StandbyConfig{Upstream: up,
		Slot: plan.SlotName(r.Unit), RestoreCommand: r.restoreCommand()})
	if err != nil || !changed {
		return err
	}
	return postgres.Reload(r.ctx, l.Cluster)
}

// authFailure recognises stores whose client reports rejected credentials without wrapping
// store.ErrAuth (Swift's "Authorization Failed").
func authFailure(err error) bool {
	if err == nil {
		return false
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "authorization failed") || strings.Contains(m, "unauthorized") ||
		strings.Contains(m, "forbidden")
}
