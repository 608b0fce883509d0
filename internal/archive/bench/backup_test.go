package bench

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// asPostgres runs a command as postgres (PostgreSQL refuses root).
func asPostgres(b *testing.B, name string, args ...string) {
	b.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Skip("needs the postgres user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Env = []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// readAll reads every file a backup reads (not pg_wal), in reads of size bytes, and returns
// the bytes read. The size matters on a cold page cache: here 8 KiB reads (what io.Copy to
// io.Discard does) cost the kernel over 1 s of CPU per GB, 1 MiB reads a fifth of that.
func readAll(dir string, size int) int64 {
	var n int64
	buf := make([]byte, size)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() && info.Name() == "pg_wal" {
			return filepath.SkipDir
		}
		if info.Mode().IsRegular() {
			if f, err := os.Open(p); err == nil {
				for {
					k, err := f.Read(buf)
					n += int64(k)
					if err != nil || k == 0 {
						break
					}
				}
				f.Close()
			}
		}
		return nil
	})
	return n
}

// BenchmarkBackup takes and restores a base backup of a pgbench database (BENCH_SCALE, default
// 30, about 450 MB) per store, next to the raw read rate of the same data directory.
func BenchmarkBackup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to run PostgreSQL as postgres")
	}
	scale := os.Getenv("BENCH_SCALE")
	if scale == "" {
		scale = "30"
	}
	base, err := os.MkdirTemp("", "archive-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if !b.Failed() {
			os.RemoveAll(base)
		}
	}()
	os.Chmod(base, 0o777)
	bin := filepath.Join(base, "pgcharm-archive")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	os.MkdirAll(sock, 0o777)
	os.Chmod(sock, 0o777)
	asPostgres(b, filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	auto := filepath.Join(data, "postgresql.auto.conf")
	os.WriteFile(auto, []byte(fmt.Sprintf(
		"listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\narchive_mode = on\narchive_command = '/bin/true'\nmax_wal_size = '1GB'\n", sock)), 0o600)
	if st, err := os.Stat(data); err == nil {
		os.Chown(auto, int(st.Sys().(*syscall.Stat_t).Uid), int(st.Sys().(*syscall.Stat_t).Gid))
	}
	asPostgres(b, filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(base, "log"), "-w", "start")
	defer asPostgres(b, filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
	asPostgres(b, filepath.Join(pgBin, "pgbench"), "-h", sock, "-U", "postgres", "-i", "-q", "-s", scale, "postgres")
	start := time.Now()
	size := readAll(data, 1<<20)
	fmt.Printf("data directory without pg_wal: %d MB; raw read (page cache warm): %.0f MB/s\n", size>>20, float64(size)/time.Since(start).Seconds()/1e6)

	for _, srv := range servers(b) {
		b.Run(srv.Name, func(b *testing.B) {
			for i := range b.N {
				cfg := filepath.Join(base, fmt.Sprintf("cfg-%s-%d.json", srv.Name, i))
				uri := srv.URI("bench", fmt.Sprintf("backup-%d", time.Now().UnixNano()))
				if srv.Name == "file" {
					uri = "file://" + filepath.Join(base, fmt.Sprintf("arch-%d", i))
				}
				writeConfigAt(b, cfg, srv, uri)
				// A backup is committed once its WAL is in the same archive: archive there.
				cmd := strings.ReplaceAll(archive.ArchiveCommand(bin, cfg, uri), "'", "''")
				asPostgres(b, filepath.Join(pgBin, "psql"), "-h", sock, "-U", "postgres", "-X", "-c", "ALTER SYSTEM SET archive_command = '"+cmd+"'")
				asPostgres(b, filepath.Join(pgBin, "psql"), "-h", sock, "-U", "postgres", "-X", "-c", "SELECT pg_reload_conf()")
				start := time.Now()
				asPostgres(b, bin, "backup-push", "--config", cfg, "--host", sock)
				push := time.Since(start)
				restore := filepath.Join(base, fmt.Sprintf("restore-%s-%d", srv.Name, i))
				start = time.Now()
				asPostgres(b, bin, "backup-fetch", "--config", cfg, "LATEST", restore)
				fetch := time.Since(start)
				os.RemoveAll(restore)
				b.ReportMetric(float64(size)/push.Seconds()/1e6, "push-MB/s")
				b.ReportMetric(float64(size)/fetch.Seconds()/1e6, "fetch-MB/s")
			}
		})
	}
}
