package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/pgconf"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/roles"
)

// These tests run real Debian clusters. Each gets a unique name, a free
// port and a data directory under the test's temporary directory, and is
// dropped at the end; clusters the test did not create are never touched.

func requireServer(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real PostgreSQL server; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the tests create Debian clusters with pg_createcluster")
	}
	if _, err := exec.LookPath("pg_createcluster"); err != nil {
		t.Skip("needs postgresql-common (pg_createcluster) and a PostgreSQL server package")
	}
	ctx := context.Background()
	v, err := DefaultVersion(ctx)
	if err != nil {
		t.Skipf("no PostgreSQL server installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(BinDir(v), "postgres")); err != nil {
		t.Skipf("PostgreSQL %s server not installed: %v", v, err)
	}
	return v
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func uniqueName(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// storageDir returns a directory the postgres user can reach, standing for
// a pgdata volume mount.
func storageDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// dropOnCleanup removes the cluster's configuration (and stops it) at the
// end of the test, whatever state the test left it in.
func dropOnCleanup(t testing.TB, version, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := os.Stat(ConfDir(version, name)); err != nil {
			return
		}
		if out, err := exec.CommandContext(ctx, "pg_dropcluster", "--stop", version, name).CombinedOutput(); err != nil {
			t.Logf("pg_dropcluster %s %s: %v: %s", version, name, err, out)
		}
		// pg_dropcluster leaves the files it does not know (conf.d
		// includes, certificates) behind.
		os.RemoveAll(ConfDir(version, name))
	})
}

type testCluster struct {
	*Cluster
	mount string
}

// newCluster creates and starts a cluster on a fresh "volume".
func newCluster(t testing.TB, ctx context.Context, version string) *testCluster {
	t.Helper()
	name := uniqueName(t)
	mount := storageDir(t)
	dropOnCleanup(t, version, name)
	c, err := Create(ctx, version, name, CreateOptions{
		DataDir: StorageDataDir(mount, version, "main"), Port: freePort(t), Locale: "C", Encoding: "UTF8",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	return &testCluster{Cluster: c, mount: mount}
}

func connect(t testing.TB, ctx context.Context, c *Cluster, database string) *DB {
	t.Helper()
	db, err := Connect(ctx, c, database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func exec1(t *testing.T, ctx context.Context, db *DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func show(t *testing.T, ctx context.Context, db *DB, name string) string {
	t.Helper()
	var v string
	if err := db.conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

func TestCreateWithChecksumsOnVolume(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	if want := filepath.Join(c.mount, v, "main"); c.DataDir != want {
		t.Errorf("DataDir = %s, want %s", c.DataDir, want)
	}
	db := connect(t, ctx, c.Cluster, "postgres")
	if got := show(t, ctx, db, "data_checksums"); got != "on" {
		t.Errorf("data_checksums = %s", got)
	}
	if got := show(t, ctx, db, "data_directory"); got != c.DataDir {
		t.Errorf("data_directory = %s, want %s", got, c.DataDir)
	}
	if got := show(t, ctx, db, "server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %s", got)
	}
	f, err := db.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := FullVersion(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if f.InRecovery || f.Timeline != 1 || f.SystemIdentifier == "" || f.ServerVersion != full || f.CurrentLSN == 0 {
		t.Errorf("facts %+v (package version %s)", f, full)
	}
	ok, err := Installed(ctx, v)
	if err != nil || !ok {
		t.Errorf("Installed(%s) = %v, %v", v, ok, err)
	}
	if ok, err := Installed(ctx, "9.1"); err != nil || ok {
		t.Errorf("Installed(9.1) = %v, %v", ok, err)
	}
	// A second Create is refused rather than initialising anything.
	if _, err := Create(ctx, v, c.Name, CreateOptions{DataDir: c.DataDir}); !errors.Is(err, ErrClusterExists) {
		t.Errorf("second Create: %v", err)
	}
	var dee *DatabaseExistsError
	if _, err := Create(ctx, v, uniqueName(t), CreateOptions{DataDir: c.DataDir}); !errors.As(err, &dee) {
		t.Errorf("Create over a database: %v", err)
	}
	// The charm's hooks run as root and must never hold secrets in files
	// others read.
	fi, err := os.Stat(filepath.Join(c.ConfDir, "pg_hba.conf"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("pg_hba.conf mode: %v %v", fi.Mode(), err)
	}
	cd, err := ReadControlData(ctx, c.Cluster)
	if err != nil || cd.SystemIdentifier != f.SystemIdentifier || !cd.Checksums || cd.State != "in production" {
		t.Errorf("control data %+v, %v", cd, err)
	}
	if err := Stop(ctx, c.Cluster, StopFast); err != nil {
		t.Fatal(err)
	}
	if running, err := IsRunning(ctx, c.Cluster); err != nil || running {
		t.Errorf("after Stop: running=%v, %v", running, err)
	}
	if err := Stop(ctx, c.Cluster, StopFast); err != nil {
		t.Errorf("Stop of a stopped cluster: %v", err)
	}
}

func TestAdoptVolume(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	db := connect(t, ctx, c.Cluster, "postgres")
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: "keeper", Login: true, Password: "kept-secret"}); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, db, "CREATE TABLE precious (id int PRIMARY KEY, v text)")
	exec1(t, ctx, db, "INSERT INTO precious SELECT g, 'row ' || g FROM generate_series(1, 1000) g")
	sysid := func(db *DB) string {
		f, err := db.Facts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f.SystemIdentifier
	}
	before := sysid(db)
	db.Close(ctx)
	if err := Stop(ctx, c.Cluster, StopFast); err != nil {
		t.Fatal(err)
	}
	// The machine is gone: only the volume is left, its files owned by a
	// uid that means nothing here.
	if err := os.RemoveAll(c.ConfDir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "54321:54321", c.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	// ...and a postmaster.pid naming a live process (this test's), as after
	// a crash when the pid has been reused.
	if err := os.WriteFile(filepath.Join(c.DataDir, "postmaster.pid"), fmt.Appendf(nil, "%d\n%s\n", os.Getpid(), c.DataDir), 0o600); err != nil {
		t.Fatal(err)
	}
	if running, err := IsRunning(ctx, c.Cluster); err != nil || running {
		t.Errorf("stale pid file seen as a running server: %v %v", running, err)
	}
	if _, err := Lookup(v, c.Name); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("Lookup after removing the configuration: %v", err)
	}
	port := freePort(t)
	a, err := Adopt(ctx, v, c.Name, AdoptOptions{DataDir: c.DataDir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if a.DataDir != c.DataDir || a.Port != port {
		t.Errorf("adopted %+v", a)
	}
	if err := Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	db = connect(t, ctx, a, "postgres")
	var n int
	if err := db.conn.QueryRow(ctx, "SELECT count(*) FROM precious").Scan(&n); err != nil || n != 1000 {
		t.Errorf("rows after adopt: %d, %v", n, err)
	}
	if ok, err := db.RoleExists(ctx, "keeper"); err != nil || !ok {
		t.Errorf("role after adopt: %v, %v", ok, err)
	}
	if got := sysid(db); got != before {
		t.Errorf("system identifier %s, want %s (was the data re-initialised?)", got, before)
	}
	if got := show(t, ctx, db, "data_checksums"); got != "on" {
		t.Errorf("data_checksums = %s", got)
	}
	// The password survived too, and EnsureRole sees it as unchanged.
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: "keeper", Login: true, Password: "kept-secret"}); err != nil || changed {
		t.Errorf("EnsureRole after adopt: changed=%v, %v", changed, err)
	}
	// Adopting again is a no-op.
	if again, err := Adopt(ctx, v, c.Name, AdoptOptions{DataDir: c.DataDir}); err != nil || again.Port != port {
		t.Errorf("second Adopt: %+v, %v", again, err)
	}
}

func TestAdoptRefusesOtherVersion(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	dir := filepath.Join(storageDir(t), "14", "main")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("14\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := uniqueName(t)
	dropOnCleanup(t, v, name)
	_, err := Adopt(ctx, v, name, AdoptOptions{DataDir: dir})
	var vm *VersionMismatchError
	if !errors.As(err, &vm) || vm.Found != "14" || vm.Want != v {
		t.Fatalf("Adopt of a PostgreSQL 14 directory: %v", err)
	}
	if !strings.Contains(err.Error(), "holds a PostgreSQL 14 database but this unit runs PostgreSQL "+v) {
		t.Errorf("message: %v", err)
	}
	if _, err := os.Stat(ConfDir(v, name)); err == nil {
		t.Error("a configuration was created for the refused directory")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION")); err != nil || string(b) != "14\n" {
		t.Errorf("the directory was modified: %q, %v", b, err)
	}
	// Create refuses it as well.
	if _, err := Create(ctx, v, name, CreateOptions{DataDir: dir}); err == nil {
		t.Error("Create over a PostgreSQL 14 directory succeeded")
	}
	// And a directory without a database is not adopted.
	empty := filepath.Join(storageDir(t), v, "main")
	if _, err := Adopt(ctx, v, name, AdoptOptions{DataDir: empty}); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("Adopt of an empty directory: %v", err)
	}
}

func TestConfValidateAndRestart(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	db := connect(t, ctx, c.Cluster, "postgres")

	extra, err := pgconf.ParseExtraConf("work_mem = 8MB\nlog_line_prefix = '%m [%p] it''s %u@%d '\nstatement_timeout = 90s\n")
	if err != nil {
		t.Fatal(err)
	}
	settings := pgconf.Baseline(pgconf.BaselineOptions{}).Merge(extra)
	if err := db.Validate(ctx, settings); err != nil {
		t.Fatalf("baseline rejected: %v", err)
	}
	changed, err := WriteCharmConf(c.Cluster, settings)
	if err != nil || !changed {
		t.Fatalf("WriteCharmConf: %v, %v", changed, err)
	}
	if changed, err := WriteCharmConf(c.Cluster, settings); err != nil || changed {
		t.Errorf("rewriting the same settings: changed=%v, %v", changed, err)
	}
	pending, err := db.ReloadConf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The baseline changes postmaster settings (wal_log_hints, listen_addresses...).
	if !slices.Contains(pending, "wal_log_hints") {
		t.Errorf("pending restart %v lacks wal_log_hints", pending)
	}
	if got := show(t, ctx, db, "work_mem"); got != "8MB" {
		t.Errorf("work_mem = %s", got)
	}
	if got := show(t, ctx, db, "log_line_prefix"); got != "%m [%p] it's %u@%d " {
		t.Errorf("log_line_prefix = %q", got)
	}
	if errs, err := db.FileSettingErrors(ctx); err != nil || len(errs) > 0 {
		t.Errorf("file setting errors: %v, %v", errs, err)
	}
	// A file written without validation is reported, and the server keeps
	// running on its previous values.
	if _, err := WriteConf(c.Cluster, "zz-test.conf", pgconf.Settings{{Name: "work_mem", Value: "lots"}}); err != nil {
		t.Fatal(err)
	}
	if errs, err := db.FileSettingErrors(ctx); err != nil || len(errs) != 1 || !strings.Contains(errs[0], "zz-test.conf:2: work_mem") {
		t.Errorf("file setting errors: %q, %v", errs, err)
	}
	if err := os.Remove(filepath.Join(c.ConfDir, "conf.d", "zz-test.conf")); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	if err := Restart(ctx, c.Cluster); err != nil {
		t.Fatal(err)
	}
	db = connect(t, ctx, c.Cluster, "postgres")
	if pending, err := db.PendingRestart(ctx); err != nil || len(pending) > 0 {
		t.Errorf("pending restart after restart: %v, %v", pending, err)
	}
	if got := show(t, ctx, db, "wal_log_hints"); got != "on" {
		t.Errorf("wal_log_hints = %s", got)
	}

	// A reload-only change needs no restart; a postmaster one does.
	settings.Set("work_mem", "16MB")
	if _, err := WriteCharmConf(c.Cluster, settings); err != nil {
		t.Fatal(err)
	}
	if pending, err := db.ReloadConf(ctx); err != nil || len(pending) > 0 {
		t.Errorf("work_mem change: pending %v, %v", pending, err)
	}
	if got := show(t, ctx, db, "work_mem"); got != "16MB" {
		t.Errorf("work_mem = %s", got)
	}
	settings.Set("shared_buffers", "32MB")
	if _, err := WriteCharmConf(c.Cluster, settings); err != nil {
		t.Fatal(err)
	}
	if pending, err := db.ReloadConf(ctx); err != nil || strings.Join(pending, ",") != "shared_buffers" {
		t.Errorf("shared_buffers change: pending %v, %v", pending, err)
	}

	// ApplyCharmConf: a refused value leaves the file as it was.
	before, err := os.ReadFile(filepath.Join(c.ConfDir, "conf.d", CharmConfName))
	if err != nil {
		t.Fatal(err)
	}
	wrong := settings.Merge(pgconf.Settings{{Name: "work_mem", Value: "lots"}})
	if changed, _, err := db.ApplyCharmConf(ctx, wrong); changed || err == nil || !strings.Contains(err.Error(), "work_mem = 'lots': not an integer") {
		t.Errorf("ApplyCharmConf of a bad value: changed=%v, %v", changed, err)
	}
	if after, err := os.ReadFile(filepath.Join(c.ConfDir, "conf.d", CharmConfName)); err != nil || string(after) != string(before) {
		t.Errorf("conf changed by a refused apply: %v", err)
	}
	settings.Set("work_mem", "24MB")
	changed, pending, err = db.ApplyCharmConf(ctx, settings)
	if err != nil || !changed || strings.Join(pending, ",") != "shared_buffers" {
		t.Errorf("ApplyCharmConf: changed=%v pending=%v, %v", changed, pending, err)
	}
	if got := show(t, ctx, db, "work_mem"); got != "24MB" {
		t.Errorf("work_mem = %s", got)
	}

	bad, err := pgconf.ParseExtraConf("max_connections = lots\nwal_level = hot\nshared_buffers = 10XB\nmax_wal_senders = -1\nno_such_setting = 1\nssl = maybe\n")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Validate(ctx, bad)
	var ise *InvalidSettingsError
	if !errors.As(err, &ise) || len(ise.Problems) != 6 {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{
		"max_connections = 'lots': not an integer",
		"wal_level = 'hot': must be one of minimal, replica, logical",
		`shared_buffers = '10XB': invalid unit "XB"`,
		"max_wal_senders = '-1': -1 is outside the valid range 0 .. ",
		"no_such_setting: unknown parameter",
		"ssl = 'maybe': must be a boolean",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
}

func TestHBAAndTLS(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	c := newCluster(t, ctx, v)
	cert, key, changed, err := EnsureSelfSignedCert(c.Cluster, []string{"127.0.0.1", "localhost"})
	if err != nil || !changed {
		t.Fatalf("EnsureSelfSignedCert: %v %v", changed, err)
	}
	if _, _, changed, err := EnsureSelfSignedCert(c.Cluster, []string{"localhost", "127.0.0.1"}); err != nil || changed {
		t.Errorf("same hosts: new certificate (changed=%v, %v)", changed, err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, %v", fi.Mode(), err)
	}
	settings := pgconf.Baseline(pgconf.BaselineOptions{CertFile: cert, KeyFile: key})
	settings.Set("listen_addresses", "127.0.0.1")
	if _, err := WriteCharmConf(c.Cluster, settings); err != nil {
		t.Fatal(err)
	}
	rules := []hba.Rule{
		{Type: "hostssl", Database: "appdb", User: "app", Address: "127.0.0.1", Method: "scram-sha-256"},
		{Type: "host", Database: `we"ird db`, User: hba.All, Address: "10.9.8.0/24", Method: "scram-sha-256"},
		{Raw: "# extra_pg_auth\nhost all admin 10.0.0.0/8 scram-sha-256"},
		{Raw: goodRawHBA},
	}
	if _, err := WriteHBA(c.Cluster, rules); err != nil {
		t.Fatal(err)
	}
	if err := Restart(ctx, c.Cluster); err != nil {
		t.Fatal(err)
	}
	db := connect(t, ctx, c.Cluster, "postgres")
	if errs, err := db.HBAErrors(ctx); err != nil || len(errs) > 0 {
		t.Fatalf("pg_hba errors: %v, %v", errs, err)
	}
	var dbs []string
	if err := db.conn.QueryRow(ctx, "SELECT database FROM pg_hba_file_rules WHERE address = '10.9.8.0'").Scan(&dbs); err != nil || len(dbs) != 1 || dbs[0] != `we"ird db` {
		t.Errorf("quoted database name read back as %q, %v", dbs, err)
	}
	for _, r := range []roles.Spec{{Name: "app", Login: true, Password: "app-pw"}, {Name: "other", Login: true, Password: "other-pw"}} {
		if changed, err := db.EnsureRole(ctx, r); err != nil || !changed {
			t.Fatalf("EnsureRole %s: %v %v", r.Name, changed, err)
		}
	}
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: "app", Login: true, Password: "app-pw"}); err != nil || changed {
		t.Errorf("EnsureRole again: changed=%v, %v", changed, err)
	}
	if created, err := db.EnsureDatabase(ctx, "appdb", "app"); err != nil || !created {
		t.Fatalf("EnsureDatabase: %v %v", created, err)
	}
	if created, err := db.EnsureDatabase(ctx, "appdb", "app"); err != nil || created {
		t.Errorf("EnsureDatabase again: %v %v", created, err)
	}
	// A password set server-side from plaintext is recognised as the same.
	exec1(t, ctx, db, "ALTER ROLE other PASSWORD 'other-pw'")
	if changed, err := db.EnsureRole(ctx, roles.Spec{Name: "other", Login: true, Password: "other-pw"}); err != nil || changed {
		t.Errorf("EnsureRole after a server-side ALTER ROLE: changed=%v, %v", changed, err)
	}
	tcp := func(user, password, database, sslmode string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=%s", c.Port, user, database, sslmode))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		return pgx.ConnectConfig(ctx, cfg)
	}
	conn, err := tcp("app", "app-pw", "appdb", "require")
	if err != nil {
		t.Fatalf("app over SSL with SCRAM: %v", err)
	}
	var ssl bool
	var version string
	if err := conn.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil || !ssl {
		t.Errorf("pg_stat_ssl: ssl=%v version=%s, %v", ssl, version, err)
	}
	conn.Close(ctx)
	rejected := func(what string, conn *pgx.Conn, err error, code string) {
		t.Helper()
		if err == nil {
			conn.Close(ctx)
			t.Errorf("%s: connected", what)
			return
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("%s: %v, want SQLSTATE %s", what, err, code)
		}
	}
	conn, err = tcp("app", "wrong", "appdb", "require")
	rejected("wrong password", conn, err, "28P01")
	conn, err = tcp("app", "app-pw", "appdb", "disable")
	rejected("without SSL", conn, err, "28000")
	conn, err = tcp("app", "app-pw", "postgres", "require")
	rejected("other database", conn, err, "28000")
	if err != nil && !strings.Contains(err.Error(), "pg_hba.conf rejects connection") {
		t.Errorf("other database refused by %v, want the final reject", err)
	}
	conn, err = tcp("other", "other-pw", "appdb", "require")
	rejected("other user", conn, err, "28000")
	conn, err = tcp("postgres", "", "postgres", "require")
	rejected("postgres over TCP", conn, err, "28000")

	// A rule the server refuses is rolled back, and the server keeps
	// working with the previous rules, also after a restart.
	bad := append(rules, hba.Rule{Raw: "host all all 10.0.0.0/8 scram-sha-256 nosuchoption=1"})
	before, err := os.ReadFile(filepath.Join(c.ConfDir, "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	changed, err = db.ApplyHBA(ctx, bad)
	var hr *HBARejectedError
	if changed || !errors.As(err, &hr) || !strings.Contains(err.Error(), "nosuchoption") {
		t.Errorf("ApplyHBA of a bad rule: changed=%v, %v", changed, err)
	}
	if after, err := os.ReadFile(filepath.Join(c.ConfDir, "pg_hba.conf")); err != nil || string(after) != string(before) {
		t.Errorf("pg_hba.conf not restored: %v", err)
	}
	if changed, err := db.ApplyHBA(ctx, rules); err != nil || changed {
		t.Errorf("ApplyHBA of the current rules: changed=%v, %v", changed, err)
	}
	db.Close(ctx)
	if err := Restart(ctx, c.Cluster); err != nil {
		t.Fatal(err)
	}
	db = connect(t, ctx, c.Cluster, "postgres")
	conn, err = tcp("app", "app-pw", "appdb", "require")
	if err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
	conn.Close(ctx)
	// A good change applies at once, through a reload.
	more := append(rules, hba.Rule{Type: "hostssl", Database: "postgres", User: "app", Address: "127.0.0.1", Method: "scram-sha-256"})
	if changed, err := db.ApplyHBA(ctx, more); err != nil || !changed {
		t.Fatalf("ApplyHBA: changed=%v, %v", changed, err)
	}
	for {
		conn, err = tcp("app", "app-pw", "postgres", "require")
		if err == nil {
			conn.Close(ctx)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("new rule not applied: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// A new address means a new certificate.
	if _, _, changed, err := EnsureSelfSignedCert(c.Cluster, []string{"127.0.0.1", "localhost", "10.1.1.1"}); err != nil || !changed {
		t.Errorf("new host: changed=%v, %v", changed, err)
	}
}

// waitFor polls query on db until it returns want.
func waitFor(t *testing.T, ctx context.Context, db *DB, query string, want string) {
	t.Helper()
	var got string
	for {
		err := db.conn.QueryRow(ctx, query).Scan(&got)
		if err == nil && got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: got %q (%v), want %q", query, got, err, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestCloneFailoverRewind(t *testing.T) {
	v := requireServer(t)
	ctx := testContext(t)
	const replPassword = "repl:pw'with\\odd chars"
	// Primary.
	p := newPrimary(t, ctx, v, replPassword)
	pdb := connect(t, ctx, p, "postgres")
	if created, err := pdb.EnsurePhysicalSlot(ctx, "standby_1"); err != nil || !created {
		t.Fatalf("EnsurePhysicalSlot: %v %v", created, err)
	}
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'before clone' FROM generate_series(1, 100) g")

	// Standby: clone into a fresh volume, adopt, follow.
	sName := uniqueName(t)
	dropOnCleanup(t, v, sName)
	sData := StorageDataDir(storageDir(t), v, "main")
	up := Upstream{Host: "127.0.0.1", Port: p.Port, User: "repl", Password: replPassword, AppName: "postgresql/1"}
	var progress strings.Builder
	if _, err := Clone(ctx, v, sData, up, CloneOptions{Slot: "standby_1", Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "kB") {
		t.Errorf("no progress output: %q", progress.String())
	}
	// A second clone into the populated directory is refused.
	var ne *NotEmptyError
	if _, err := Clone(ctx, v, sData, up, CloneOptions{Slot: "standby_1"}); !errors.As(err, &ne) {
		t.Errorf("clone over data: %v", err)
	}
	s, err := Adopt(ctx, v, sName, AdoptOptions{DataDir: sData, Port: freePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Told to, Clone moves the existing content aside (nothing is deleted)
	// and clones afresh under the configuration already made.
	moved, err := Clone(ctx, v, sData, up, CloneOptions{Slot: "standby_1", MoveAside: true})
	if err != nil {
		t.Fatal(err)
	}
	if major, ok, err := HasDatabase(moved); err != nil || !ok || major != v {
		t.Errorf("moved-aside copy %s: %s %v %v", moved, major, ok, err)
	}
	configureForReplication(t, s)
	if _, err := WriteStandbyConfig(s, StandbyConfig{Upstream: up, Slot: "standby_1"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(s.ConfDir, passfileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("passfile: %v %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(s.ConfDir, "conf.d", StandbyConfName)); err != nil || strings.Contains(string(b), "odd chars") {
		t.Errorf("standby conf holds the password or is missing: %v", err)
	}
	if err := Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	sdb := connect(t, ctx, s, "postgres")
	exec1(t, ctx, pdb, "INSERT INTO t VALUES (101, 'after clone')")
	waitFor(t, ctx, sdb, "SELECT coalesce((SELECT origin FROM t WHERE id = 101), '')", "after clone")
	waitFor(t, ctx, pdb, "SELECT coalesce((SELECT state FROM pg_stat_replication WHERE application_name = 'postgresql/1'), '')", "streaming")
	waitFor(t, ctx, pdb, "SELECT active::text FROM pg_replication_slots WHERE slot_name = 'standby_1'", "true")
	sf, err := sdb.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := pdb.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sf.InRecovery || sf.ReceiverStatus != "streaming" || sf.SystemIdentifier != pf.SystemIdentifier || sf.Timeline != 1 || sf.ReplayLSN == 0 {
		t.Errorf("standby facts %+v (primary %+v)", sf, pf)
	}
	stats, err := pdb.Replication(ctx)
	if err != nil || len(stats) != 1 || stats[0].ClientAddr != "127.0.0.1" {
		t.Errorf("pg_stat_replication: %+v, %v", stats, err)
	}
	if _, err := sdb.conn.Exec(ctx, "INSERT INTO t VALUES (999, 'on standby')"); err == nil {
		t.Error("the standby accepted a write")
	}

	// Pause and resume replay.
	if err := sdb.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, pdb, "INSERT INTO t VALUES (102, 'while paused')")
	waitFor(t, ctx, sdb, "SELECT pg_is_wal_replay_paused()::text", "true")
	if err := sdb.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, sdb, "SELECT coalesce((SELECT origin FROM t WHERE id = 102), '')", "while paused")

	// Promote the standby: the old primary still runs and takes a write
	// the new one never sees, so its timeline diverges.
	sdb.Close(ctx)
	if err := Promote(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsStandbyConfigured(s); err != nil || ok {
		t.Errorf("standby.signal after promote: %v %v", ok, err)
	}
	sdb = connect(t, ctx, s, "postgres")
	exec1(t, ctx, sdb, "INSERT INTO t VALUES (200, 'new primary')")
	sf, err = sdb.Facts(ctx)
	if err != nil || sf.InRecovery || sf.Timeline != 2 {
		t.Fatalf("promoted facts %+v, %v", sf, err)
	}
	exec1(t, ctx, pdb, "INSERT INTO t SELECT g, 'diverged' FROM generate_series(300, 400) g")
	exec1(t, ctx, pdb, "CHECKPOINT")
	exec1(t, ctx, pdb, "INSERT INTO t VALUES (401, 'diverged')")
	pdb.Close(ctx)

	// The old primary crashes (no clean shutdown), then rewinds to the new
	// primary and follows it.
	if err := Stop(ctx, p, StopImmediate); err != nil {
		t.Fatal(err)
	}
	if cd, err := ReadControlData(ctx, p); err != nil || cd.State != "in production" {
		t.Fatalf("control data after the crash: %+v, %v", cd, err)
	}
	if _, err := sdb.EnsurePhysicalSlot(ctx, "standby_0"); err != nil {
		t.Fatal(err)
	}
	newUp := Upstream{Host: "127.0.0.1", Port: s.Port, User: "repl", Password: replPassword, AppName: "postgresql/0"}
	var rewindOut strings.Builder
	if err := Rewind(ctx, p, newUp, false, &rewindOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rewindOut.String(), "Done!") {
		t.Errorf("pg_rewind output: %s", rewindOut.String())
	}
	if ok, err := IsStandbyConfigured(p); err != nil || !ok {
		t.Errorf("rewound cluster is not a standby: %v %v", ok, err)
	}
	if _, err := WriteStandbyConfig(p, StandbyConfig{Upstream: newUp, Slot: "standby_0"}); err != nil {
		t.Fatal(err)
	}
	if err := Start(ctx, p); err != nil {
		t.Fatal(err)
	}
	pdb = connect(t, ctx, p, "postgres")
	exec1(t, ctx, sdb, "INSERT INTO t VALUES (201, 'after rewind')")
	waitFor(t, ctx, pdb, "SELECT coalesce((SELECT origin FROM t WHERE id = 201), '')", "after rewind")
	waitFor(t, ctx, pdb, "SELECT count(*)::text FROM t WHERE origin = 'diverged'", "0")
	waitFor(t, ctx, pdb, "SELECT count(*)::text FROM t", "104")
	pf, err = pdb.Facts(ctx)
	if err != nil || !pf.InRecovery || pf.Timeline != 2 || pf.ReceiverStatus != "streaming" {
		t.Errorf("rewound facts %+v, %v", pf, err)
	}
	// The promoted server's departed standby slot is dropped even while used.
	if err := sdb.DropSlot(ctx, "standby_0"); err != nil {
		t.Fatal(err)
	}
	if slots, err := sdb.Slots(ctx); err != nil || len(slots) != 0 {
		t.Errorf("slots after drop: %+v, %v", slots, err)
	}
}
