// Package bench measures the archive engine the way PostgreSQL drives it: one wal-push process
// per archive_command call, one wal-fetch per restore_command call. Run with run.sh (or
// `go test -run XXX -bench . ./internal/archive/bench/`); nothing here runs in `go test`.
package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/storetest"
	"github.com/pgcharm/postgresql/internal/wal"
)

const (
	segSize = 16 << 20
	burst   = 64 // segments per measured burst: 1 GiB
)

func buildBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "pgcharm-archive")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput()
	if err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// walLike fills a segment roughly as compressible as pgbench WAL (about 3:1 with lz4).
func walLike(seg wal.Segment, sysid uint64, r *rand.Rand) []byte {
	buf := make([]byte, segSize)
	for p := 0; p < segSize; p += 8192 {
		r.Read(buf[max(p, 64) : p+2600])
		copy(buf[p+2600:p+8192], buf[64:64+5592]) // repeated structure
	}
	le := binary.LittleEndian
	le.PutUint16(buf[0:], 0xD110)
	le.PutUint16(buf[2:], 2)
	le.PutUint32(buf[4:], seg.TLI)
	le.PutUint64(buf[8:], uint64(seg.StartLSN()))
	le.PutUint64(buf[24:], sysid)
	le.PutUint32(buf[32:], segSize)
	le.PutUint32(buf[36:], 8192)
	return buf
}

// pgdata makes a fake data directory whose pg_wal holds n ready segments from first on.
func pgdata(b *testing.B, first uint64, n int) (string, []string) {
	b.Helper()
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "global"), 0o700)
	os.MkdirAll(filepath.Join(dir, "pg_wal", "archive_status"), 0o700)
	ctl := make([]byte, 8192)
	binary.LittleEndian.PutUint64(ctl, 4242)
	os.WriteFile(filepath.Join(dir, "global", "pg_control"), ctl, 0o600)
	r := rand.New(rand.NewSource(int64(first)))
	var names []string
	for i := range n {
		s := wal.Segment{TLI: 1, SegNo: first + uint64(i)}
		os.WriteFile(filepath.Join(dir, "pg_wal", s.Name()), walLike(s, 4242, r), 0o600)
		os.WriteFile(filepath.Join(dir, "pg_wal", "archive_status", s.Name()+".ready"), nil, 0o600)
		names = append(names, s.Name())
	}
	return dir, names
}

// archiver does what PostgreSQL's archiver does, as this user (see archiveReady), with the
// archiver command bin.
func archiver(b *testing.B, bin, command, dir string) {
	b.Helper()
	archiveReady(b, bin, dir, command, func(dir, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%v\n%s", err, out)
		}
		return string(out), nil
	})
}

// pushCommand is the archive_command for cfg: the charm's (uploads ahead, shell fast path), or
// with ahead false a plain wal-push of one file per call.
func pushCommand(bin, cfg string, ahead bool) string {
	if !ahead {
		return fmt.Sprintf(`%s wal-push --config %s --ahead -1 "%%p"`, bin, cfg)
	}
	c, err := archive.LoadConfig(cfg)
	if err != nil {
		panic(err)
	}
	return archive.ArchiveCommand(bin, cfg, c.URI)
}

func writeConfig(b *testing.B, srv *storetest.Server, prefix, compression string) string {
	cfg := filepath.Join(b.TempDir(), "archive.json")
	c := archive.Config{Credentials: srv.Creds, URI: srv.URI("bench", prefix), Compression: compression}
	body, _ := json.Marshal(c)
	os.WriteFile(cfg, body, 0o600)
	return cfg
}

// writeConfigAt writes a configuration postgres can read.
func writeConfigAt(b *testing.B, path string, srv *storetest.Server, uri string) {
	c := archive.Config{Credentials: srv.Creds, URI: uri}
	body, _ := json.Marshal(c)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		b.Fatal(err)
	}
	if u, err := user.Lookup("postgres"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(path, uid, gid)
	}
}

func servers(b *testing.B) []*storetest.Server {
	var out []*storetest.Server
	for _, s := range storetest.All(b, "127.0.0.1") {
		if want := os.Getenv("BENCH_STORES"); want == "" || strings.Contains(want, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkWALPush archives a 1 GiB burst (64 segments) per iteration, with and without
// uploads ahead of PostgreSQL's requests, per store and compression.
func BenchmarkWALPush(b *testing.B) {
	bin := buildBinary(b)
	arch := buildArchiver(b, b.TempDir())
	for _, srv := range servers(b) {
		for _, comp := range []string{"lz4", "zstd"} {
			for _, mode := range []struct {
				name  string
				ahead bool
			}{{"ahead", true}, {"one-by-one", false}} {
				b.Run(fmt.Sprintf("%s/%s/%s", srv.Name, comp, mode.name), func(b *testing.B) {
					var elapsed time.Duration
					for i := range b.N {
						b.StopTimer()
						cfg := writeConfig(b, srv, fmt.Sprintf("push-%s-%s-%d-%d", comp, mode.name, i, time.Now().UnixNano()), comp)
						dir, _ := pgdata(b, 16, burst)
						b.StartTimer()
						start := time.Now()
						archiver(b, arch, pushCommand(bin, cfg, mode.ahead), dir)
						elapsed += time.Since(start)
					}
					secs := elapsed.Seconds()
					b.ReportMetric(float64(burst*b.N)/secs, "segments/s")
					b.ReportMetric(float64(burst*b.N*segSize)/secs/1e6, "MB/s")
				})
			}
		}
	}
}

// BenchmarkWALFetch restores a 1 GiB run of segments as recovery does: one restore_command per
// segment through /bin/sh in the data directory, the charm's (prefetch in the background, the
// shell serving prefetched segments) and a plain wal-fetch without prefetch.
func BenchmarkWALFetch(b *testing.B) {
	bin := buildBinary(b)
	arch := buildArchiver(b, b.TempDir())
	for _, srv := range servers(b) {
		cfg := writeConfig(b, srv, fmt.Sprintf("fetch-%d", time.Now().UnixNano()), "lz4")
		dir, names := pgdata(b, 16, burst)
		archiver(b, arch, pushCommand(bin, cfg, true), dir)
		commands := map[string]string{
			"8": archive.RestoreCommand(bin, cfg, ""),
			"0": fmt.Sprintf(`%s wal-fetch --config %s --prefetch 0 "%%f" "%%p"`, bin, cfg),
		}
		for _, prefetch := range []string{"8", "0"} {
			b.Run(fmt.Sprintf("%s/prefetch-%s", srv.Name, prefetch), func(b *testing.B) {
				var elapsed time.Duration
				for range b.N {
					b.StopTimer()
					tmp, err := os.MkdirTemp("", "walfetch-bench-")
					if err != nil {
						b.Fatal(err)
					}
					restoreDir := filepath.Join(tmp, "pg_wal")
					os.MkdirAll(restoreDir, 0o700)
					dest := filepath.Join(restoreDir, "RECOVERYXLOG")
					b.StartTimer()
					start := time.Now()
					for _, n := range names {
						cmd := exec.Command("/bin/sh", "-c", strings.NewReplacer("%p", "pg_wal/RECOVERYXLOG", "%f", n).Replace(commands[prefetch]))
						cmd.Dir = tmp
						if out, err := cmd.CombinedOutput(); err != nil {
							b.Fatalf("restore_command %s: %v\n%s", n, err, out)
						}
						if st, err := os.Stat(dest); err != nil || st.Size() != segSize {
							b.Fatalf("restore_command %s left no segment: %v", n, err)
						}
					}
					elapsed += time.Since(start)
					// Detached prefetchers may still be writing; let them finish first.
					for range 100 {
						if e, _ := os.ReadDir(filepath.Join(restoreDir, ".wal-g", "prefetch", "running")); len(e) == 0 {
							break
						}
						time.Sleep(100 * time.Millisecond)
					}
					os.RemoveAll(tmp)
				}
				secs := elapsed.Seconds()
				b.ReportMetric(float64(burst*b.N)/secs, "segments/s")
				b.ReportMetric(float64(burst*b.N*segSize)/secs/1e6, "MB/s")
			})
		}
	}
}
