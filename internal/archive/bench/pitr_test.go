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

// BenchmarkPITR measures a restore to the end of the archive: fetching a base backup, then
// replaying BENCH_WAL_MB (default 1024) of pgbench WAL through restore_command, with and
// without prefetch, per store (BENCH_STORES).
func BenchmarkPITR(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to run PostgreSQL as postgres")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Skip("needs the postgres user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	walMB, _ := strconv.Atoi(os.Getenv("BENCH_WAL_MB"))
	if walMB <= 0 {
		walMB = 1024
	}
	pg := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8"}
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, srv := range servers(b) {
		b.Run(srv.Name, func(b *testing.B) {
			base, err := os.MkdirTemp("", "archive-pitr-bench-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(base)
			os.Chmod(base, 0o777)
			bin := filepath.Join(base, "pgcharm-archive")
			if out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput(); err != nil {
				b.Fatalf("build: %v\n%s", err, out)
			}
			cfg := filepath.Join(base, "archive.json")
			uri := srv.URI("bench", fmt.Sprintf("pitr-%d", time.Now().UnixNano()))
			if srv.Name == "file" {
				uri = "file://" + filepath.Join(base, "archive")
			}
			writeConfigAt(b, cfg, srv, uri)
			data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
			os.MkdirAll(sock, 0o777)
			os.Chmod(sock, 0o777)
			pg(filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
			auto := filepath.Join(data, "postgresql.auto.conf")
			os.WriteFile(auto, []byte(fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n"+
				"archive_mode = on\narchive_command = '%s'\nmax_wal_size = '4GB'\n", sock,
				strings.ReplaceAll(archive.ArchiveCommand(bin, cfg, uri), "'", "''"))), 0o600)
			os.Chown(auto, uid, gid)
			pg(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(base, "log"), "-w", "start")
			defer pg(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
			psql := func(dir, q string) string {
				return pg(filepath.Join(pgBin, "psql"), "-h", dir, "-U", "postgres", "-X", "-At", "-c", q, "postgres")
			}
			pg(filepath.Join(pgBin, "pgbench"), "-h", sock, "-U", "postgres", "-i", "-q", "-s", "10", "postgres")
			pg(bin, "backup-push", "--config", cfg, "--host", sock)
			startLSN := psql(sock, "SELECT pg_current_wal_lsn()")
			for {
				pg(filepath.Join(pgBin, "pgbench"), "-h", sock, "-U", "postgres", "-n", "-c", "4", "-T", "5", "postgres")
				if n, _ := strconv.Atoi(psql(sock, "SELECT (pg_current_wal_lsn() - '"+startLSN+"'::pg_lsn)::bigint / 1048576")); n >= walMB {
					break
				}
			}
			psql(sock, "SELECT pg_switch_wal()")
			for psql(sock, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'") != "0" {
				time.Sleep(200 * time.Millisecond)
			}
			walBytes, _ := strconv.ParseFloat(psql(sock, "SELECT (pg_current_wal_lsn() - '"+startLSN+"'::pg_lsn)::bigint"), 64)
			for _, prefetch := range []string{"8", "0"} {
				b.Run("prefetch-"+prefetch, func(b *testing.B) {
					var elapsed time.Duration
					for i := range b.N {
						dir := filepath.Join(base, fmt.Sprintf("restore-%s-%d", prefetch, i))
						rsock := dir + "-sock"
						os.MkdirAll(rsock, 0o777)
						os.Chmod(rsock, 0o777)
						start := time.Now()
						pg(bin, "restore", "--config", cfg, dir)
						f, _ := os.OpenFile(filepath.Join(dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
						fmt.Fprintf(f, "unix_socket_directories = '%s'\narchive_mode = off\nrestore_command = '%s wal-fetch --config %s --prefetch %s %%f %%p'\n",
							rsock, bin, cfg, prefetch)
						f.Close()
						pg(filepath.Join(pgBin, "pg_ctl"), "-D", dir, "-l", dir+".log", "-w", "-t", "3600", "start")
						for {
							cmd := exec.Command(filepath.Join(pgBin, "psql"), "-h", rsock, "-U", "postgres", "-X", "-At", "-c", "SELECT pg_is_in_recovery()", "postgres")
							if out, err := cmd.Output(); err == nil && strings.TrimSpace(string(out)) == "f" {
								break
							}
							time.Sleep(100 * time.Millisecond)
						}
						elapsed += time.Since(start)
						pg(filepath.Join(pgBin, "pg_ctl"), "-D", dir, "-m", "immediate", "stop")
						os.RemoveAll(dir)
					}
					b.ReportMetric(elapsed.Seconds()/float64(b.N), "restore-s")
					b.ReportMetric(walBytes/1e6/(elapsed.Seconds()/float64(b.N)), "WAL-MB/s")
				})
			}
		})
	}
}
