package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/wal"
)

// TestFileArchive: faults and WAL-G compatibility against a file:// archive with a real
// cluster archiving into it.
func TestFileArchive(t *testing.T) {
	needPG(t)
	base := baseDir(t)
	cfg := filepath.Join(base, "archive.json")
	arch := filepath.Join(base, "archive")
	writeConfig(t, cfg, "file://"+arch, archive.Config{}.Credentials)
	primary := newCluster(t, base, "primary")
	primary.archiveSettings(cfg, "file://"+arch)
	primary.start()
	must(t, filepath.Join(pgBin, "pgbench"), "-h", primary.sock, "-U", "postgres", "-i", "-s", "1", "-q", "postgres")
	primary.sql("CREATE TABLE marks (id serial PRIMARY KEY, phase text, at timestamptz DEFAULT clock_timestamp())")
	// --json: the committed backup is the only thing on stdout, as the wal-e-backup action reads it.
	var pushed archive.Backup
	if out := mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock, "--json"); json.Unmarshal([]byte(out), &pushed) != nil ||
		!strings.HasPrefix(pushed.Name, "base_") || pushed.CompressedSize <= 0 || pushed.FinishLSN <= pushed.StartLSN {
		t.Fatalf("backup-push --json printed %q", out)
	}
	if list := mustTool(t, "backup-list", "--config", cfg); !strings.Contains(list, pushed.Name) {
		t.Fatalf("backup-push --json reported %s, backup-list shows %s", pushed.Name, list)
	}

	marks := func(c *cluster, phase string) string {
		return c.sql(fmt.Sprintf("SELECT count(*) FROM marks WHERE phase = '%s'", phase))
	}

	t.Run("store unavailable", func(t *testing.T) {
		primary.t = t
		if err := os.Chmod(arch, 0); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			primary.sql(fmt.Sprintf("INSERT INTO marks (phase) SELECT 'outage' FROM generate_series(1, %d)", i+1))
			primary.sql("SELECT pg_switch_wal()")
		}
		deadline := time.Now().Add(60 * time.Second)
		for primary.sql("SELECT failed_count > 0 FROM pg_stat_archiver") != "t" {
			if time.Now().After(deadline) {
				t.Fatal("archive_command never failed while the store was unavailable")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := primary.sql("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"); n == "0" {
			t.Fatal("nothing waits for archiving during the outage")
		}
		os.Chmod(arch, 0o750)
		primary.sql("INSERT INTO marks (phase) VALUES ('back')")
		primary.sql("SELECT pg_switch_wal()")
		primary.sql("SELECT pg_reload_conf()")
		primary.waitArchived()
		if out, errs, code := tool(t, "verify", "--config", cfg); code != 0 {
			t.Fatalf("verify after the outage: exit %d\n%s%s", code, out, errs)
		}
		r := restoreTo(t, base, "after-outage", cfg)
		if got := marks(r, "outage") + " " + marks(r, "back"); got != "6 1" {
			t.Errorf("rows written during the outage after restore: %q, want \"6 1\"", got)
		}
		r.stop()
	})

	t.Run("backup while archiving fails", func(t *testing.T) {
		primary.t = t
		saved := primary.sql("SHOW archive_command")
		setArchiveCommand := func(cmd string) {
			primary.sql("ALTER SYSTEM SET archive_command = $cmd$" + cmd + "$cmd$")
			primary.sql("SELECT pg_reload_conf()")
		}
		backups := func() string { return mustTool(t, "backup-list", "--config", cfg) }
		before := backups()

		// Bounded: the backup is not committed without its WAL, and the error says why.
		setArchiveCommand("/bin/false")
		_, errs, code := tool(t, "backup-push", "--config", cfg, "--host", primary.sock, "--archive-timeout", "3s")
		if code == 0 || !strings.Contains(errs, "did not reach") || !strings.Contains(errs, "not committed") {
			t.Errorf("backup-push with archiving broken: exit %d: %s", code, errs)
		}
		if after := backups(); after != before {
			t.Errorf("a backup was listed although its WAL was never archived:\n%s", after)
		}

		// A backup into an archive that archive_command does not archive into is refused
		// as soon as the archiver is past its WAL, naming the cause.
		setArchiveCommand(saved)
		elsewhere := "file://" + filepath.Join(base, "elsewhere")
		start := time.Now()
		_, errs, code = tool(t, "backup-push", "--config", cfg, "--uri", elsewhere, "--host", primary.sock)
		if code == 0 || !strings.Contains(errs, "archives elsewhere") {
			t.Errorf("backup-push into an archive without the WAL: exit %d: %s", code, errs)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("backup-push took %s to find archive_command archiving elsewhere", d)
		}
		if list := mustTool(t, "backup-list", "--config", cfg, "--uri", elsewhere); strings.Contains(list, "base_") {
			t.Errorf("a backup was listed although its WAL went elsewhere:\n%s", list)
		}

		// Waits while the archiver fails, and commits once archiving works again.
		setArchiveCommand("/bin/false")
		done := make(chan error, 1)
		go func() {
			out, errs, code := run(t, binPath, "backup-push", "--config", cfg, "--host", primary.sock, "--progress-interval", "1s")
			if code != 0 {
				done <- fmt.Errorf("exit %d: %s%s", code, out, errs)
				return
			}
			if !strings.Contains(out, "waiting for WAL") {
				done <- fmt.Errorf("no progress line while waiting for the archiver:\n%s", out)
				return
			}
			done <- nil
		}()
		time.Sleep(4 * time.Second)
		setArchiveCommand(saved)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("backup-push once archiving works again: %v", err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("backup-push still waiting two minutes after archiving works again")
		}
		if after := backups(); after == before {
			t.Error("no new backup listed")
		}
		primary.waitArchived()
	})

	t.Run("second cluster refused", func(t *testing.T) {
		other := newCluster(t, base, "other")
		seg := filepath.Join(other.dir, "pg_wal", "000000010000000000000001")
		_, errs, code := tool(t, "wal-push", "--config", cfg, seg)
		if code == 0 {
			t.Fatal("a second cluster pushed into the archive")
		}
		mine, err := archive.ReadControlSystemID(other.dir)
		if err != nil {
			t.Fatal(err)
		}
		ours := primary.sysid()
		if !strings.Contains(errs, ours) || !strings.Contains(errs, strconv.FormatUint(mine, 10)) {
			t.Errorf("refusal does not name both system identifiers (%s, %d): %s", ours, mine, errs)
		}
		if _, err := os.Stat(filepath.Join(arch, "wal_005", "000000010000000000000001.lz4")); err == nil {
			// The primary's own first segment may be there; make sure it is the primary's.
			out := filepath.Join(base, "check-seg")
			mustTool(t, "wal-fetch", "--config", cfg, "--prefetch", "0", "000000010000000000000001", out)
			b, _ := os.ReadFile(out)
			if h, err := archive.ParseSegmentHeader(b); err != nil || strconv.FormatUint(h.SysID, 10) != ours {
				t.Errorf("archived segment 1 belongs to %d, not the primary %s", h.SysID, ours)
			}
		}
	})

	t.Run("killed wal-push", func(t *testing.T) {
		primary.t = t
		killPushes(t, primary, base, cfg, "file://"+filepath.Join(base, "killed-archive"), 16)
	})

	t.Run("killed backup-push", func(t *testing.T) {
		primary.t = t
		countBackups := func() int { return strings.Count(mustTool(t, "backup-list", "--config", cfg), "base_") }
		before := countBackups()
		for _, delay := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
			cmd := asPostgres(binPath, "backup-push", "--config", cfg, "--host", primary.sock)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err := cmd.Wait()
			if err == nil {
				t.Logf("backup-push finished within %s; nothing was interrupted", delay)
				before++
			}
			if got := countBackups(); got != before {
				t.Fatalf("after killing backup-push at %s: %d backups listed, want %d", delay, got, before)
			}
		}
		// The server ended the interrupted backup with the connection; the next one works,
		// here in many small parts from three streams.
		out := mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock, "--part-size", "1048576", "--streams", "3")
		t.Log(out)
		if got := countBackups(); got != before+1 {
			t.Errorf("%d backups after a complete push, want %d", got, before+1)
		}
		r := restoreTo(t, base, "multipart", cfg)
		if got := r.sql("SELECT count(*) FROM pgbench_accounts"); got != "100000" {
			t.Errorf("restore of a backup in many parts: %s accounts, want 100000", got)
		}
		r.stop()
	})

	t.Run("walg reader restores our backup", func(t *testing.T) {
		primary.t = t
		primary.sql("INSERT INTO marks (phase) SELECT 'compat' FROM generate_series(1, 5)")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		dir := filepath.Join(base, "walg-restored")
		name := walgFetchLatest(t, arch, dir)
		t.Logf("WAL-G-format reader restored %s", name)
		walgCheckWAL(t, arch)
		os.WriteFile(filepath.Join(dir, "recovery.signal"), nil, 0o600)
		c := adopt(t, base, "walg-restored")
		c.conf("restore_command = '"+binPath+" wal-fetch --config "+cfg+" %f %p'", "unix_socket_directories = '"+c.sock+"'",
			"archive_mode = off")
		chownR(t, dir)
		c.start()
		c.waitPromoted()
		if got := marks(c, "compat"); got != "5" {
			t.Errorf("rows after the WAL-G-format restore: %s, want 5", got)
		}
		c.stop()
	})

	t.Run("we restore a WAL-G archive", func(t *testing.T) {
		primary.t = t
		fixture := filepath.Join(base, "walg-fixture")
		bb := filepath.Join(base, "pg_basebackup")
		must(t, filepath.Join(pgBin, "pg_basebackup"), "-h", primary.sock, "-U", "postgres", "-D", bb, "-Ft", "-X", "none", "-c", "fast")
		primary.sql("INSERT INTO marks (phase) SELECT 'fixture' FROM generate_series(1, 9)")
		want := primary.sql("SELECT count(*) FROM marks")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		buildWALGFixture(t, bb, arch, fixture)
		chownR(t, fixture)
		r := restoreTo(t, base, "from-walg", cfg, "--uri", "file://"+fixture)
		if got := r.sql("SELECT count(*) FROM marks"); got != want {
			t.Errorf("rows restored from the WAL-G fixture: %s, want %s", got, want)
		}
		if got := marks(r, "fixture"); got != "9" {
			t.Errorf("fixture rows: %s, want 9", got)
		}
		r.stop()
	})

	t.Run("delete and verify", func(t *testing.T) {
		primary.t = t
		mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock)
		primary.sql("INSERT INTO marks (phase) VALUES ('last')")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		before := walObjects(t, arch)
		out := mustTool(t, "delete", "--config", cfg, "retain", "1")
		if !strings.Contains(out, "dry run") || len(walObjects(t, arch)) != len(before) {
			t.Fatalf("dry run deleted something or said nothing:\n%s", out)
		}
		out = mustTool(t, "delete", "--config", cfg, "retain", "1", "--confirm")
		t.Logf("delete:\n%s", out)
		list := mustTool(t, "backup-list", "--config", cfg)
		if strings.Count(list, "base_") != 1 {
			t.Fatalf("after retain 1:\n%s", list)
		}
		after := walObjects(t, arch)
		if len(after) >= len(before) {
			t.Errorf("retain 1 deleted no WAL (%d -> %d objects)", len(before), len(after))
		}
		if out, errs, code := tool(t, "verify", "--config", cfg); code != 0 {
			t.Fatalf("verify after delete: exit %d\n%s%s", code, out, errs)
		}
		// The kept backup still restores to the end.
		r := restoreTo(t, base, "after-delete", cfg)
		if got := marks(r, "last"); got != "1" {
			t.Errorf("restore after delete: %s 'last' rows, want 1", got)
		}
		r.stop()
		// A missing segment is reported as a gap.
		sort.Strings(after)
		var victim string
		for _, o := range after {
			if wal.Classify(strings.TrimSuffix(o, ".lz4")) == wal.KindSegment {
				victim = o // the last one
			}
		}
		mid := after[len(after)/2]
		if wal.Classify(strings.TrimSuffix(mid, ".lz4")) == wal.KindSegment {
			victim = mid
		}
		os.Rename(filepath.Join(arch, "wal_005", victim), filepath.Join(base, "victim"))
		out, _, code := tool(t, "verify", "--config", cfg)
		if code == 0 || !strings.Contains(out, "MISSING "+strings.TrimSuffix(victim, ".lz4")) {
			t.Errorf("verify with %s removed: exit %d\n%s", victim, code, out)
		}
		os.Rename(filepath.Join(base, "victim"), filepath.Join(arch, "wal_005", victim))
	})

	t.Run("standby from the archive", func(t *testing.T) {
		primary.t = t
		mustTool(t, "restore", "--config", cfg, "--standby", filepath.Join(base, "standby"))
		if _, err := os.Stat(filepath.Join(base, "standby", "standby.signal")); err != nil {
			t.Fatal("no standby.signal")
		}
		s := adopt(t, base, "standby")
		s.conf("unix_socket_directories = '"+s.sock+"'", "archive_mode = off", "wal_retrieve_retry_interval = '200ms'")
		s.start()
		primary.sql("INSERT INTO marks (phase) VALUES ('standby-sees')")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, _, code := run(t, filepath.Join(pgBin, "psql"), "-h", s.sock, "-U", "postgres", "-d", "postgres", "-X", "-At", "-c",
				"SELECT pg_is_in_recovery(), count(*) FROM marks WHERE phase = 'standby-sees'")
			if code == 0 && strings.TrimSpace(out) == "t|1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("standby did not replay the archived row (last answer %q)\n%s", out, s.logText())
			}
			time.Sleep(200 * time.Millisecond)
		}
		s.stop()
	})

	t.Run("tablespace restored beside the original", func(t *testing.T) {
		primary.t = t
		loc := filepath.Join(base, "ts1")
		os.MkdirAll(loc, 0o700)
		os.Chown(loc, int(pgUID), int(pgGID))
		primary.sql("CREATE TABLESPACE ts1 LOCATION '" + loc + "'")
		primary.sql("CREATE TABLE in_ts (i int) TABLESPACE ts1")
		primary.sql("INSERT INTO in_ts SELECT generate_series(1, 1000)")
		oid := primary.sql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
		mustTool(t, "backup-push", "--config", cfg, "--host", primary.sock)
		primary.sql("INSERT INTO in_ts SELECT generate_series(1001, 1500)")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		moved := filepath.Join(base, "ts1-restored")
		r := restoreTo(t, base, "with-ts", cfg, "--tablespace", oid+"="+moved)
		if got := r.sql("SELECT count(*) FROM in_ts"); got != "1500" {
			t.Errorf("rows in the restored tablespace: %s, want 1500", got)
		}
		if got := r.sql("SELECT pg_tablespace_location(" + oid + ")"); got != moved {
			t.Errorf("restored tablespace at %s, want %s", got, moved)
		}
		r.stop()
		primary.sql("DROP TABLE in_ts")
		primary.sql("DROP TABLESPACE ts1")
	})

	t.Run("new timeline after a restore", func(t *testing.T) {
		primary.t = t
		primary.sql("INSERT INTO marks (phase) VALUES ('tl1-end')")
		tl1End := primary.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
		primary.sql("SELECT pg_switch_wal()")
		primary.waitArchived()
		primary.stop() // failover: the old primary is gone, a restored copy takes over
		// The latest backup still records ts1 (dropped since) at its place under base: the
		// operator allows tablespaces there.
		mustTool(t, "restore", "--config", cfg, "--tablespace-root", base, filepath.Join(base, "tl2"))
		c := adopt(t, base, "tl2")
		c.conf("unix_socket_directories = '" + c.sock + "'") // archiving stays on, into the same archive
		c.start()
		c.waitPromoted()
		if tli := c.sql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"); tli != "00000002" {
			t.Fatalf("restored cluster on timeline %s, want 00000002", tli)
		}
		c.sql("INSERT INTO marks (phase) SELECT 'tl2' FROM generate_series(1, 4)")
		c.sql("SELECT pg_switch_wal()")
		c.waitArchived()
		out := mustTool(t, "backup-push", "--config", cfg, "--host", c.sock)
		if !strings.Contains(out, "base_00000002") {
			t.Errorf("backup on timeline 2 named:\n%s", out)
		}
		c.sql("INSERT INTO marks (phase) VALUES ('tl2-after')")
		c.sql("SELECT pg_switch_wal()")
		c.waitArchived()
		if out, errs, code := tool(t, "verify", "--config", cfg); code != 0 || !strings.Contains(out, "timeline 2") {
			t.Errorf("verify across the timeline switch: exit %d\n%s%s", code, out, errs)
		}
		c.stop()
		r := restoreTo(t, base, "tl2-latest", cfg)
		if got := marks(r, "tl2") + " " + marks(r, "tl2-after") + " " + marks(r, "tl1-end"); got != "4 1 1" {
			t.Errorf("restore to latest after the switch: tl2/tl2-after/tl1-end rows %q, want \"4 1 1\"", got)
		}
		r.stop()
		// A target before the switch needs a timeline 1 backup.
		plan := mustTool(t, "restore", "--config", cfg, "--plan-only", "--target-time", tl1End, filepath.Join(base, "unused"))
		if !strings.Contains(plan, "backup base_00000001") {
			t.Errorf("plan for a target on timeline 1:\n%s", plan)
		}
	})
}

func walObjects(t *testing.T, arch string) []string {
	entries, err := os.ReadDir(filepath.Join(arch, "wal_005"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

func chownR(t *testing.T, dir string) {
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, int(pgUID), int(pgGID))
		}
		return nil
	})
}

// killPushes pushes a complete segment of c to a fresh archive (uri, with cfg's credentials)
// and kills wal-push at varying moments, rounds times: wal-fetch must then find either
// nothing or exactly the segment. A final complete push (twice: idempotent) must be fetchable.
func killPushes(t *testing.T, c *cluster, base, cfg, uri string, rounds int) {
	t.Helper()
	// A segment just completed: checkpoints may have removed every older one.
	c.sql("SELECT txid_current()")
	c.sql("SELECT pg_switch_wal()")
	cur := c.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
	entries, _ := os.ReadDir(filepath.Join(c.dir, "pg_wal"))
	var name string
	for _, e := range entries {
		if wal.Classify(e.Name()) == wal.KindSegment && e.Name() < cur {
			name = e.Name()
		}
	}
	if name == "" {
		t.Fatal("no complete segment in pg_wal")
	}
	src, err := os.ReadFile(filepath.Join(c.dir, "pg_wal", name))
	if err != nil {
		t.Fatal(err)
	}
	fake, err := os.MkdirTemp(base, "killed-")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(fake, "pg_wal"), 0o755)
	os.WriteFile(filepath.Join(fake, "pg_wal", name), src, 0o644)
	chownR(t, fake)
	seg := filepath.Join(fake, "pg_wal", name)
	dest := filepath.Join(fake, "fetched")
	outcomes := map[string]int{}
	for i := range rounds {
		cmd := asPostgres(binPath, "wal-push", "--config", cfg, "--uri", uri, "--ahead", "-1", seg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill moments spread over 0 to 150 ms, denser early (start-up, owner check, upload).
		time.Sleep(time.Duration(i*i) * 150 * time.Millisecond / time.Duration(rounds*rounds))
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		os.Remove(dest)
		_, errs, code := tool(t, "wal-fetch", "--config", cfg, "--uri", uri, "--prefetch", "0", name, dest)
		switch code {
		case 74:
			outcomes["nothing"]++
		case 0:
			got, _ := os.ReadFile(dest)
			if !bytes.Equal(got, src) {
				t.Fatalf("after a kill at round %d: wal-fetch returned a different segment", i)
			}
			outcomes["complete"]++
			// Start over: the next kill must again hit an upload in flight.
			if a, err := archive.Open(context.Background(), mustConfig(t, cfg), uri); err == nil {
				objs, _ := a.Store.List(context.Background(), "wal_005/")
				for _, o := range objs {
					a.Store.Delete(context.Background(), o.Name)
				}
			}
		default:
			t.Fatalf("after a kill: wal-fetch exit %d: %s", code, errs)
		}
	}
	t.Logf("kill outcomes: %v", outcomes)
	mustTool(t, "wal-push", "--config", cfg, "--uri", uri, seg)
	mustTool(t, "wal-push", "--config", cfg, "--uri", uri, seg) // idempotent
	os.Remove(dest)
	mustTool(t, "wal-fetch", "--config", cfg, "--uri", uri, "--prefetch", "0", name, dest)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, src) {
		t.Fatal("segment fetched after a complete push differs")
	}
}

func mustConfig(t *testing.T, path string) archive.Config {
	t.Helper()
	c, err := archive.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
