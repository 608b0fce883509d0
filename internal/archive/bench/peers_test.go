package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
)

// BenchmarkWALPushPeers archives the same 1 GiB burst of segments of a real (stopped) cluster
// with our wal-push and with pgBackRest 2.45 archive-push (synchronous and asynchronous, lz4,
// posix repository on the same disk), each driven like PostgreSQL's archiver: one command per
// segment, oldest first, .ready renamed to .done on success.
func BenchmarkWALPushPeers(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to run PostgreSQL as postgres")
	}
	pgbr, err := exec.LookPath("pgbackrest")
	if err != nil {
		b.Skip("pgbackrest not installed (apt install pgbackrest)")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Skip("needs the postgres user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	run := func(dir, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8"}
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
		}
		return nil
	}
	base, err := os.MkdirTemp("", "archive-peers-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o777)
	bin := filepath.Join(base, "pgcharm-archive")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	os.MkdirAll(sock, 0o777)
	os.Chmod(sock, 0o777)
	if err := run("/", filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n", sock)
	os.WriteFile(filepath.Join(data, "postgresql.auto.conf"), []byte(conf), 0o600)
	os.Chown(filepath.Join(data, "postgresql.auto.conf"), uid, gid)
	sysid, err := archive.ReadControlSystemID(data)
	if err != nil {
		b.Fatal(err)
	}

	// Fresh segments in the stopped cluster's pg_wal for each measured run.
	var first uint64 = 0x100
	prepare := func() {
		wal := filepath.Join(data, "pg_wal")
		entries, _ := os.ReadDir(filepath.Join(wal, "archive_status"))
		for _, e := range entries {
			os.Remove(filepath.Join(wal, "archive_status", e.Name()))
		}
		r := rand.New(rand.NewSource(int64(first)))
		for i := range burst {
			s := archive.Segment{TLI: 1, SegNo: first + uint64(i)}
			buf := walLike(s, sysid, r)
			binary.LittleEndian.PutUint64(buf[24:], sysid)
			p := filepath.Join(wal, s.Name())
			os.WriteFile(p, buf, 0o600)
			os.Chown(p, uid, gid)
			st := filepath.Join(wal, "archive_status", s.Name()+".ready")
			os.WriteFile(st, nil, 0o600)
			os.Chown(st, uid, gid)
		}
		first += burst
	}
	archiver := func(cmdFor func(name string) []string) error {
		status := filepath.Join(data, "pg_wal", "archive_status")
		for {
			entries, _ := os.ReadDir(status)
			var ready []string
			for _, e := range entries {
				if n, ok := strings.CutSuffix(e.Name(), ".ready"); ok {
					ready = append(ready, n)
				}
			}
			if len(ready) == 0 {
				return nil
			}
			sort.Strings(ready)
			args := cmdFor(filepath.Join("pg_wal", ready[0]))
			if err := run(data, args[0], args[1:]...); err != nil {
				return err
			}
			os.Rename(filepath.Join(status, ready[0]+".ready"), filepath.Join(status, ready[0]+".done"))
		}
	}

	// pgBackRest needs its stanza created against the running server.
	pgbrConf := func(async bool) string {
		name := "sync"
		if async {
			name = "async"
		}
		dir := filepath.Join(base, "pgbr-"+name)
		for _, d := range []string{"repo", "spool", "log", "lock"} {
			os.MkdirAll(filepath.Join(dir, d), 0o777)
			os.Chmod(filepath.Join(dir, d), 0o777)
		}
		c := fmt.Sprintf("[global]\nrepo1-path=%s/repo\ncompress-type=lz4\nlog-path=%s/log\nlock-path=%s/lock\nspool-path=%s/spool\n"+
			"process-max=4\narchive-async=%s\nlog-level-console=warn\n[bench]\npg1-path=%s\npg1-socket-path=%s\n",
			dir, dir, dir, dir, map[bool]string{true: "y", false: "n"}[async], data, sock)
		p := filepath.Join(dir, "pgbackrest.conf")
		os.WriteFile(p, []byte(c), 0o644)
		return p
	}
	syncConf, asyncConf := pgbrConf(false), pgbrConf(true)
	if err := run("/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(base, "log"), "-w", "start"); err != nil {
		b.Fatal(err)
	}
	for _, c := range []string{syncConf, asyncConf} {
		if err := run("/", pgbr, "--config="+c, "--stanza=bench", "stanza-create"); err != nil {
			run("/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
			b.Fatal(err)
		}
	}
	run("/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "fast", "stop")

	ourCfg := filepath.Join(base, "archive.json")
	tools := []struct {
		name string
		cmd  func(string) []string
	}{
		{"ours-lz4", func(p string) []string { return []string{bin, "wal-push", "--config", ourCfg, p} }},
		{"ours-lz4-one-by-one", func(p string) []string { return []string{bin, "wal-push", "--config", ourCfg, "--ahead", "-1", p} }},
		{"pgbackrest-lz4-sync", func(p string) []string {
			return []string{pgbr, "--config=" + syncConf, "--stanza=bench", "archive-push", p}
		}},
		{"pgbackrest-lz4-async-4", func(p string) []string {
			return []string{pgbr, "--config=" + asyncConf, "--stanza=bench", "archive-push", p}
		}},
	}
	for _, tool := range tools {
		b.Run(tool.name, func(b *testing.B) {
			var elapsed time.Duration
			for i := range b.N {
				b.StopTimer()
				arch := filepath.Join(base, fmt.Sprintf("ours-%s-%d", tool.name, i))
				body := fmt.Sprintf(`{"wal_e_storage_uri": "file://%s", "wal_e_compression": "lz4"}`, arch)
				os.WriteFile(ourCfg, []byte(body), 0o600)
				os.Chown(ourCfg, uid, gid)
				prepare()
				b.StartTimer()
				start := time.Now()
				if err := archiver(tool.cmd); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(burst*b.N)/elapsed.Seconds(), "segments/s")
			b.ReportMetric(float64(burst*b.N*segSize)/elapsed.Seconds()/1e6, "MB/s")
		})
	}
}
