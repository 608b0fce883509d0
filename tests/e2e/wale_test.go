package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/archive/legacyfixture"
	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/storetest"
)

const hostPGBin = "/usr/lib/postgresql/15/bin"

// hostCluster is a PostgreSQL 15 cluster on the test host (not a Juju unit): the server an
// original-charm user ran WAL-E on. Settings go on the command line, so that the data
// directory holds nothing of this host (postgresql.auto.conf stays empty).
type hostCluster struct {
	dir, sock string
	conn      *pgx.Conn
}

func startHostCluster(t *testing.T, archiveDir string) *hostCluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(hostPGBin, "initdb")); err != nil {
		t.Fatalf("needs PostgreSQL 15 on the host (tests/setup/postgres.sh): %v", err)
	}
	if _, err := exec.LookPath("lzop"); err != nil {
		t.Fatal("needs lzop on the host (tests/setup/postgres.sh installs it)")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	base, err := os.MkdirTemp("", "e2e-wale-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	c := &hostCluster{dir: filepath.Join(base, "data"), sock: filepath.Join(base, "sock")}
	for _, d := range []string{base, c.sock, archiveDir} {
		os.MkdirAll(d, 0o755)
		os.Chown(d, uid, gid)
	}
	asPG := func(args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	asPG(filepath.Join(hostPGBin, "initdb"), "-D", c.dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories='%s' -c wal_level=replica -c archive_mode=on -c archive_command='cp %%p %s/%%f' -c fsync=off", c.sock, archiveDir)
	asPG(filepath.Join(hostPGBin, "pg_ctl"), "-D", c.dir, "-l", filepath.Join(base, "log"), "-o", opts, "-w", "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(hostPGBin, "pg_ctl"), "-D", c.dir, "-m", "immediate", "stop").Run()
	})
	c.conn, err = pgx.Connect(context.Background(), "host="+c.sock+" user=postgres dbname=postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close(context.Background()) })
	return c
}

func (c *hostCluster) exec(t *testing.T, sql string) string {
	t.Helper()
	var out string
	if err := c.conn.QueryRow(context.Background(), "SELECT coalesce(("+sql+")::text, '')").Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestWALERestoreSwift is the original charm's users' case: a WAL-E archive in Swift (objects
// named with a leading slash, lzop parts and WAL, WAL-E's sentinel and extended_version.txt)
// of a PostgreSQL 15 server, restored by wal-e-restore into a fresh unit to a target time.
func TestWALERestoreSwift(t *testing.T) {
	s, subnet := newSim(t, "walee")
	hostIP := netip.MustParsePrefix(subnet).Addr().Next()
	sw := storetest.Swift(t, hostIP.String())
	ctx := context.Background()
	uriE, uriOwn := sw.URI("walex_e", ""), sw.URI("walex_own", "")
	swiftStore, err := store.Open(ctx, uriE, sw.Creds)
	if err != nil {
		t.Fatal(err)
	}
	view, ok := store.LeadingSlash(swiftStore)
	if !ok {
		t.Fatal("swift has no leading-slash view")
	}

	// The WAL-E side: a server, a backup, rows before and after the target, its WAL.
	fixture := t.TempDir()
	raw := filepath.Join(os.TempDir(), fmt.Sprintf("e2e-wale-raw-%d", time.Now().UnixNano()))
	t.Cleanup(func() { os.RemoveAll(raw) })
	src := startHostCluster(t, raw)
	if _, err := src.conn.Exec(ctx, "CREATE TABLE ts (t timestamptz); INSERT INTO ts VALUES (clock_timestamp())"); err != nil {
		t.Fatal(err)
	}
	name, _, _ := legacyfixture.WALEBackup(t, legacyfixture.Source{Conn: "host=" + src.sock + " user=postgres dbname=postgres", DataDir: src.dir},
		fixture, false, 8<<20)
	legacyfixture.UploadTree(t, filepath.Join(fixture, "basebackups_005"), legacyfixture.Under(view, "basebackups_005"))
	src.conn.Exec(ctx, "INSERT INTO ts VALUES (clock_timestamp())")
	time.Sleep(1200 * time.Millisecond)
	target := src.exec(t, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(1200 * time.Millisecond)
	src.conn.Exec(ctx, "INSERT INTO ts VALUES (clock_timestamp())")
	last := src.exec(t, "SELECT pg_walfile_name(pg_switch_wal())")
	eventually(t, 60*time.Second, "segment "+last+" archived", func() bool {
		return src.exec(t, "SELECT coalesce(last_archived_wal, '') >= '"+last+"' FROM pg_stat_archiver") == "true"
	})
	legacyfixture.CopyWAL(t, raw, fixture, "lzo")
	legacyfixture.UploadTree(t, filepath.Join(fixture, "wal_005"), legacyfixture.Under(view, "wal_005"))
	objs, err := swiftStore.List(ctx, "") // the container's raw names
	if err != nil || len(objs) == 0 {
		t.Fatalf("list %s: %v %v", uriE, objs, err)
	}
	for _, o := range objs {
		if !strings.HasPrefix(o.Name, "/basebackups_005/") && !strings.HasPrefix(o.Name, "/wal_005/") {
			t.Fatalf("object %q is not named as WAL-E names them in Swift", o.Name)
		}
	}

	// The charm's side: a fresh unit with its own archive restores the WAL-E one.
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("config", "postgresql", "--file", credsYAML(t, sw.Creds))
	s.Run("config", "postgresql", "wal_e_storage_uri="+uriOwn)
	s.Run("wait")
	unit := "postgresql/0"
	list := action(t, s, unit, "wal-e-list-backups", "storage-uri="+uriE)
	entry, _ := list.Results[strings.ToLower(strings.ReplaceAll(name, "_", "-"))].(map[string]any)
	if entry["format"] != "wal-e" || !strings.HasPrefix(fmt.Sprint(entry["extended-version"]), "PostgreSQL 15") ||
		!strings.Contains(fmt.Sprint(list.Results["read-from"]), "beginning with /") {
		t.Fatalf("wal-e-list-backups of the WAL-E archive: %v", list.Results)
	}
	if v := action(t, s, unit, "wal-e-verify", "storage-uri="+uriE); v.Results["ok"] != "true" || v.Results["segments-missing"] != "0" ||
		v.Results["backups-checked"] != "1" {
		t.Errorf("wal-e-verify of the WAL-E archive: %v", v.Results)
	}
	res := action(t, s, unit, "wal-e-restore", "storage-uri="+uriE, "target-time="+target, "confirm=true")
	t.Logf("restore: %v\n%s", res.Results, strings.Join(res.Log, "\n"))
	if res.Results["format"] != "wal-e" || res.Results["backup-name"] != name {
		t.Errorf("restore results: %v", res.Results)
	}
	if out := psql(s, unit, "SELECT count(*) FROM ts"); out != "2" {
		t.Fatalf("restored to %s: %s rows, want 2", target, out)
	}
	s.Run("wait")
	// The unit's own archive holds the backups of the database before the restore: it is
	// never emptied (issue 15, Medium 4); the unit asks for a new, empty location.
	if st := s.Status("").Applications["postgresql"].Units[unit].Workload; st.Current != "blocked" ||
		!strings.Contains(st.Message, "set wal_e_storage_uri to a new, empty location") {
		t.Errorf("after the restore over its own archive's database: %+v", st)
	}
	uriNew := uriOwn + "/restored"
	s.Run("config", "postgresql", "wal_e_storage_uri="+uriNew)
	s.Run("wait")
	expectRoles(t, s, "postgresql", 0)
	// Archiving continues into the unit's own URI, in the charm's (WAL-G) layout.
	psql(s, unit, "SELECT pg_switch_wal()")
	own, err := store.Open(ctx, uriNew, sw.Creds)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "WAL archived into "+uriNew, func() bool {
		objs, err := own.List(ctx, "wal_005/")
		return err == nil && len(objs) > 0
	})
}
