package archive_test

// Fixtures in the layouts real WAL-G 3.0.9 and WAL-E write (package legacyfixture, whose
// writers follow each tool's source), taken from a running PostgreSQL 15 cluster, and restored
// by our engine to exactly the rows before a target time.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/legacyfixture"
	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// restoreFixture restores backup (the one PlanRestore picks when empty) from uri to target
// with the engine's API as the charm's restore does, then starts the server and waits for
// the end of recovery.
func restoreFixture(t *testing.T, base, name, cfg, uri, backup string, target time.Time) *cluster {
	t.Helper()
	return restoreFixtureTo(t, base, name, cfg, uri, backup, target, nil)
}

// restoreFixtureTo is restoreFixture with tablespaces moved (OID -> new empty directory).
func restoreFixtureTo(t *testing.T, base, name, cfg, uri, backup string, target time.Time, tablespaces map[string]string) *cluster {
	t.Helper()
	ctx := context.Background()
	conf, err := archive.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(ctx, conf, uri)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := a.PlanRestore(ctx, archive.RestoreRequest{TargetTime: target, Binary: binPath, ConfigPath: cfg, URI: uri})
	if err != nil {
		t.Fatal(err)
	}
	if backup != "" {
		if plan.Backup, err = a.FindBackup(ctx, backup); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, name)
	if err := archive.Restore(ctx, a, plan, dir, archive.BackupFetchOptions{PgMajor: 15, Tablespaces: tablespaces,
		Owner: &archive.FileOwner{UID: int(pgUID), GID: int(pgGID)}}); err != nil {
		t.Fatalf("restore %s from %s: %v", plan.Backup.Name, uri, err)
	}
	// WAL-E leaves the configuration files out (tar_partition.PG_CONF): on Debian they live
	// in /etc/postgresql anyway. Give the restored directory minimal ones.
	for f, body := range map[string]string{"postgresql.conf": "", "pg_hba.conf": "local all all trust\n"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			os.WriteFile(p, []byte(body), 0o600)
			os.Chown(p, int(pgUID), int(pgGID))
		}
	}
	c := adopt(t, base, name)
	c.conf("unix_socket_directories = '"+c.sock+"'", "archive_mode = off", "listen_addresses = ''")
	c.start()
	c.waitPromoted()
	return c
}

// TestRealToolLayouts takes backups of one PostgreSQL 15 cluster in WAL-G 3.0.9's layout (lz4,
// zstd, brotli and uncompressed) and WAL-E's (backup_label in its own partition, and inside the
// data tar), archives its WAL into both layouts, and restores each backup to a target time
// between two batches of rows: exactly the rows committed before it come back.
func TestRealToolLayouts(t *testing.T) {
	needPG(t)
	if _, err := exec.LookPath("lzop"); err != nil {
		t.Fatal("lzop is not installed: tests/setup/postgres.sh installs it (Debian package lzop)")
	}
	ctx := context.Background()
	var target time.Time
	base := baseDir(t)
	raw := filepath.Join(base, "raw-wal")
	os.MkdirAll(raw, 0o755)
	os.Chown(raw, int(pgUID), int(pgGID))
	src := newCluster(t, base, "src")
	src.conf("archive_mode = on", "wal_level = replica", "archive_command = 'cp %p "+raw+"/%f'")
	src.start()
	src.sql("CREATE TABLE marks (id serial PRIMARY KEY, phase text NOT NULL, at timestamptz DEFAULT clock_timestamp())")
	src.sql("INSERT INTO marks (phase) SELECT 'before' FROM generate_series(1, 50)")
	srcFx := legacyfixture.Source{Conn: "host=" + src.sock + " user=postgres dbname=postgres", DataDir: src.dir}

	walgArch := filepath.Join(base, "walg")
	var walgNames []string
	for _, method := range []string{"lz4", "zstd", "brotli", "lzma", "none"} {
		src.sql("SELECT pg_switch_wal()") // each backup starts in a segment of its own, so names differ
		name, members := legacyfixture.WALG309Backup(t, srcFx, walgArch, method, 4<<20)
		walgNames = append(walgNames, name)
		if members[0] != "/" || !contains(members, "/PG_VERSION") || !contains(members, "/global/pg_control") || !contains(members, "/pg_wal") {
			t.Fatalf("WAL-G members %v: want \"/\", \"/PG_VERSION\", \"/pg_wal\" and \"/global/pg_control\"", members[:min(8, len(members))])
		}
		time.Sleep(20 * time.Millisecond) // distinct sentinel times
	}
	src.sql("SELECT pg_switch_wal()")
	waleOwn, startOwn, stopOwn := legacyfixture.WALEBackup(t, srcFx, filepath.Join(base, "wale-own"), false, 4<<20)
	src.sql("SELECT pg_switch_wal()")
	waleIn, _, _ := legacyfixture.WALEBackup(t, srcFx, filepath.Join(base, "wale-inside"), true, 4<<20)

	// The same WAL-E backup on Swift, as WAL-E names objects there ("/basebackups_005/...",
	// "/wal_005/..."), uploaded when it was taken: WAL-E records no finish time, the
	// sentinel's last-modified time is it.
	swiftSrv := storetest.Swift(t, "127.0.0.1")
	swiftURI := swiftSrv.URI("walex_1", "")
	swiftStore, err := store.Open(ctx, swiftURI, swiftSrv.Creds)
	if err != nil {
		t.Fatal(err)
	}
	view, ok := store.LeadingSlash(swiftStore)
	if !ok {
		t.Fatal("swift has no leading-slash view")
	}
	legacyfixture.UploadTree(t, filepath.Join(base, "wale-own", "basebackups_005"), legacyfixture.Under(view, "basebackups_005"))

	src.sql("INSERT INTO marks (phase) SELECT 'early' FROM generate_series(1, 100)")
	time.Sleep(1100 * time.Millisecond)
	target, err = time.Parse("2006-01-02 15:04:05.999999-07", src.sql("SELECT clock_timestamp()"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	src.sql("INSERT INTO marks (phase) SELECT 'late' FROM generate_series(1, 1000)")
	src.sql("SELECT pg_switch_wal()")
	src.waitArchived()
	want := "150"

	legacyfixture.CopyWAL(t, raw, walgArch, "lz4", "zstd", "none", "brotli")
	legacyfixture.CopyWAL(t, raw, filepath.Join(base, "wale-own"), "lzo")
	legacyfixture.CopyWAL(t, raw, filepath.Join(base, "wale-inside"), "lzo")
	chownR(t, base)
	cfg := filepath.Join(base, "archive.json")
	writeConfig(t, cfg, "file://"+walgArch, store.Credentials{})

	t.Run("WAL-G 3.0.9", func(t *testing.T) {
		conf, _ := archive.LoadConfig(cfg)
		a, err := archive.Open(ctx, conf, "file://"+walgArch)
		if err != nil {
			t.Fatal(err)
		}
		list, err := a.ListBackups(ctx)
		if err != nil || len(list) != 5 {
			t.Fatalf("backup-list: %v %+v", err, list)
		}
		for _, b := range list {
			if b.Format != archive.FormatWALG || archive.MajorVersion(b.PgVersion) != 15 || b.SystemIdentifier == 0 || b.FinishLSN <= b.StartLSN {
				t.Errorf("listed %+v", b)
			}
		}
		// A delta backup (WAL-G's name and sentinel fields for one) is listed but refused,
		// naming WAL-G's own backup-fetch.
		last := walgNames[len(walgNames)-1]
		raw, _ := os.ReadFile(filepath.Join(walgArch, "basebackups_005", last+"_backup_stop_sentinel.json"))
		delta := strings.Replace(last, "base_", "base_", 1) + "_D_" + strings.TrimPrefix(walgNames[0], "base_")
		deltaSentinel := strings.Replace(string(raw), `"PgVersion"`, `"DeltaLSN":1,"DeltaFrom":"`+walgNames[0]+`","DeltaFullName":"`+walgNames[0]+`","DeltaCount":1,"PgVersion"`, 1)
		os.WriteFile(filepath.Join(walgArch, "basebackups_005", delta+"_backup_stop_sentinel.json"), []byte(deltaSentinel), 0o644)
		db, err := a.FindBackup(ctx, delta)
		if err != nil || !db.IsDelta {
			t.Fatalf("delta backup listed as %+v, %v", db, err)
		}
		if _, err := a.BackupFetch(ctx, delta, filepath.Join(base, "delta"), archive.BackupFetchOptions{PgMajor: 15}); err == nil ||
			!strings.Contains(err.Error(), "wal-g backup-fetch") {
			t.Errorf("fetch of a delta backup: %v", err)
		}
		if plan, err := a.PlanRestore(ctx, archive.RestoreRequest{Binary: binPath}); err != nil || plan.Backup.IsDelta {
			t.Errorf("a plan chose the delta backup: %+v %v", plan.Backup, err)
		}
		os.Remove(filepath.Join(walgArch, "basebackups_005", delta+"_backup_stop_sentinel.json"))
		for i, name := range walgNames {
			r := restoreFixture(t, base, fmt.Sprintf("from-walg-%d", i), cfg, "file://"+walgArch, name, target)
			if got := r.sql("SELECT count(*) FROM marks"); got != want {
				t.Errorf("%s: %s rows restored to %s, want %s", name, got, target.Format(time.RFC3339Nano), want)
			}
			r.stop()
		}
	})

	t.Run("WAL-E, backup_label in its own partition", func(t *testing.T) {
		uri := "file://" + filepath.Join(base, "wale-own")
		conf, _ := archive.LoadConfig(cfg)
		a, err := archive.Open(ctx, conf, uri)
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.FindBackup(ctx, "LATEST")
		if err != nil {
			t.Fatal(err)
		}
		if b.Name != waleOwn || b.Format != archive.FormatWALE || b.StartLSN.String() != startOwn || b.FinishLSN.String() != stopOwn ||
			archive.MajorVersion(b.PgVersion) != 15 || !strings.HasPrefix(b.ExtendedVersion, "PostgreSQL 15") {
			t.Fatalf("listed %+v; want %s from %s to %s, PostgreSQL 15", b, waleOwn, startOwn, stopOwn)
		}
		// Another major version is refused before anything is written.
		dir := filepath.Join(base, "wrong-major")
		_, err = a.BackupFetch(ctx, b.Name, dir, archive.BackupFetchOptions{PgMajor: 14})
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL 15") || !strings.Contains(err.Error(), "PostgreSQL 14") {
			t.Fatalf("fetch for PostgreSQL 14: %v", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("the refused fetch created %s", dir)
		}
		// WAL-E records no system identifier: the fetched pg_control tells it.
		fetched, err := a.BackupFetch(ctx, b.Name, filepath.Join(base, "wale-fetch"), archive.BackupFetchOptions{PgMajor: 15})
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.FormatUint(fetched.SystemIdentifier, 10); got != src.sysid() {
			t.Errorf("fetched backup's system identifier %s, want %s", got, src.sysid())
		}
		r := restoreFixture(t, base, "from-wale-own", cfg, uri, "", target)
		if got := r.sql("SELECT count(*) FROM marks"); got != want {
			t.Errorf("%s rows restored to %s, want %s", got, target.Format(time.RFC3339Nano), want)
		}
		r.stop()
	})

	t.Run("WAL-E, backup_label inside the data tar, archive copied after the target", func(t *testing.T) {
		// A copy has new store times, later than the target: the finish time must come from
		// the backup history file PostgreSQL archived (STOP TIME), not the sentinel's time.
		copied := filepath.Join(base, "wale-inside-copied")
		if out, err := exec.Command("cp", "-r", filepath.Join(base, "wale-inside"), copied).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		chownR(t, copied)
		uri := "file://" + copied
		r := restoreFixture(t, base, "from-wale-inside", cfg, uri, waleIn, target)
		if got := r.sql("SELECT count(*) FROM marks"); got != want {
			t.Errorf("%s rows restored to %s, want %s", got, target.Format(time.RFC3339Nano), want)
		}
		r.stop()
	})

	t.Run("WAL-E on Swift, object names with a leading slash", func(t *testing.T) {
		legacyfixture.UploadTree(t, filepath.Join(base, "wale-own", "wal_005"), legacyfixture.Under(view, "wal_005"))
		if objs, _ := swiftStore.List(ctx, "basebackups_005/"); len(objs) != 0 {
			t.Fatalf("the objects are reachable without the leading slash: %v", objs)
		}
		swiftCfg := filepath.Join(base, "swift.json")
		writeConfig(t, swiftCfg, swiftURI, swiftSrv.Creds)
		r := restoreFixture(t, base, "from-wale-swift", swiftCfg, swiftURI, "", target)
		if got := r.sql("SELECT count(*) FROM marks"); got != want {
			t.Errorf("%s rows restored from %s to %s, want %s", got, swiftURI, target.Format(time.RFC3339Nano), want)
		}
		if !strings.Contains(r.logText(), "restored log file") {
			t.Errorf("recovery replayed no archived WAL:\n%s", r.logText())
		}
		r.stop()
	})
}

// TestWALETablespaces restores a WAL-E backup of a cluster with a tablespace, written as WAL-E's
// partition() walks it (wal_e/tar_partition.py: through pg_tblspc/OID, members named under the
// data directory, the link left out, {"loc", "link"} in the spec), to a target time with the
// tablespace moved to a new directory: exactly the rows before the target come back, the
// tablespace's files are in the new directory and pg_tblspc/OID links there. Without a mapping,
// a location outside any allowed root is refused before anything is written.
func TestWALETablespaces(t *testing.T) {
	needPG(t)
	if _, err := exec.LookPath("lzop"); err != nil {
		t.Fatal("lzop is not installed: tests/setup/postgres.sh installs it (Debian package lzop)")
	}
	ctx := context.Background()
	base := baseDir(t)
	raw := filepath.Join(base, "raw-wal")
	tsDir := filepath.Join(base, "ts-original")
	for _, d := range []string{raw, tsDir} {
		os.MkdirAll(d, 0o700)
		os.Chown(d, int(pgUID), int(pgGID))
	}
	src := newCluster(t, base, "src")
	src.conf("archive_mode = on", "wal_level = replica", "archive_command = 'cp %p "+raw+"/%f'")
	src.start()
	src.sql("CREATE TABLESPACE ts LOCATION '" + tsDir + "'")
	oid := src.sql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts'")
	src.sql("CREATE TABLE marks (id serial PRIMARY KEY, phase text NOT NULL) TABLESPACE ts")
	src.sql("INSERT INTO marks (phase) SELECT 'before' FROM generate_series(1, 50)")
	src.sql("SELECT pg_switch_wal()")
	arch := filepath.Join(base, "wale")
	name, _, _ := legacyfixture.WALEBackup(t, legacyfixture.Source{Conn: "host=" + src.sock + " user=postgres dbname=postgres", DataDir: src.dir}, arch, false, 4<<20)
	sentinel, _ := os.ReadFile(filepath.Join(arch, "basebackups_005", name+"_backup_stop_sentinel.json"))
	if want := fmt.Sprintf(`"tablespaces": [%q], %q: {"loc": %q, "link": "pg_tblspc/%s"}`, oid, oid, tsDir+"/", oid); !strings.Contains(string(sentinel), want) {
		t.Fatalf("sentinel %s lacks %s", sentinel, want)
	}
	src.sql("INSERT INTO marks (phase) SELECT 'early' FROM generate_series(1, 100)")
	time.Sleep(1100 * time.Millisecond)
	target, err := time.Parse("2006-01-02 15:04:05.999999-07", src.sql("SELECT clock_timestamp()"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	src.sql("INSERT INTO marks (phase) SELECT 'late' FROM generate_series(1, 1000)")
	src.sql("SELECT pg_switch_wal()")
	src.waitArchived()
	legacyfixture.CopyWAL(t, raw, arch, "lzo")
	chownR(t, base)
	cfg := filepath.Join(base, "archive.json")
	uri := "file://" + arch
	writeConfig(t, cfg, uri, store.Credentials{})

	conf, _ := archive.LoadConfig(cfg)
	a, err := archive.Open(ctx, conf, uri)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.FindBackup(ctx, name)
	if err != nil || b.Format != archive.FormatWALE || b.Unsupported != "" {
		t.Fatalf("listed %+v, %v", b, err)
	}
	// The recorded location is nowhere the operator allowed: refused, nothing written.
	refused := filepath.Join(base, "refused")
	if _, err := a.BackupFetch(ctx, name, refused, archive.BackupFetchOptions{PgMajor: 15}); err == nil ||
		!strings.Contains(err.Error(), "--tablespace "+oid+"=DIR") {
		t.Fatalf("fetch without a mapping: %v", err)
	}
	moved := filepath.Join(base, "ts-moved")
	r := restoreFixtureTo(t, base, "restored", cfg, uri, name, target, map[string]string{oid: moved})
	if got := r.sql("SELECT count(*) FROM marks"); got != "150" {
		t.Errorf("%s rows restored to %s, want 150", got, target.Format(time.RFC3339Nano))
	}
	if link, err := os.Readlink(filepath.Join(r.dir, "pg_tblspc", oid)); err != nil || link != moved {
		t.Errorf("pg_tblspc/%s links to %q (%v), want %s", oid, link, err, moved)
	}
	rel := r.sql("SELECT pg_relation_filepath('marks')")
	if st, err := os.Stat(filepath.Join(moved, strings.TrimPrefix(rel, "pg_tblspc/"+oid+"/"))); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the table's file %s is not in %s: %v", rel, moved, err)
	}
	r.stop()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
