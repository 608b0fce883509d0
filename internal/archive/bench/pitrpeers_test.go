package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// pitrScale is the pgbench scale of the base backup (about 150 MB): the WAL after it is what
// BenchmarkPITRPeers is about.
const pitrScale = "10"

// counts is what the recovered server must show: every row the source wrote, the last one
// (a mark inserted after the pgbench WAL) in the last archived segment.
const counts = "SELECT (SELECT count(*) FROM marks) || ' marks, ' || (SELECT count(*) FROM pgbench_history) || ' history rows'"

// BenchmarkPITRPeers measures a recovery to the end of the archive with our engine,
// pgBackRest 2.45 and barman-cloud 3.4 on the same HTTPS versitygw: each tool archives a fresh
// source cluster, takes its base backup, archives BENCH_WAL_MB (default 1024) of pgbench WAL
// written after it, then (source stopped) the backup is restored into a new directory and a
// server started on it with the tool's restore_command until it has promoted. restore-s is the
// base backup's fetch, replay-s the rest until pg_is_in_recovery() is false, total-s both; a
// recovery that ends before the source's last row fails instead of reporting a time.
func BenchmarkPITRPeers(b *testing.B) {
	u := postgresUser(b)
	walMB, _ := strconv.Atoi(os.Getenv("BENCH_WAL_MB"))
	if walMB <= 0 {
		walMB = 1024
	}
	base := benchDir(b, "pitr-peers-")
	bin := buildFor(b, base)
	st := startTLSStore(b, u, base)
	// Printed here, before any sub-benchmark starts its result line.
	fmt.Printf("pitr peers: base backup of pgbench scale %s, then %d MB of WAL; page cache dropped before each recovery: %v\n",
		pitrScale, walMB, dropCaches())

	b.Run("s3", func(b *testing.B) {
		for _, p := range peers(u, st, bin, "", "s3") {
			b.Run(p.name, func(b *testing.B) {
				if _, err := exec.LookPath(p.needs); err != nil {
					b.Skipf("%s not installed", p.needs)
				}
				for i := range b.N {
					dir := filepath.Join(base, fmt.Sprintf("%s-%d", p.name, i))
					src := newCluster(b, u, filepath.Join(dir, "source"), 5432, "max_wal_size = '4GB'\n")
					src.start(b)
					u.must(b, filepath.Join(pgBin, "pgbench"), "-h", src.sock, "-p", strconv.Itoa(src.port), "-U", "postgres", "-i", "-q", "-s", pitrScale, "postgres")
					src.sql(b, "CREATE TABLE marks (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
					t := p.make(b, src, fmt.Sprintf("pitr-%s-%d-%d", p.name, i, time.Now().UnixNano()))
					src.useArchiver(b, t)
					if err := t.backup(); err != nil {
						b.Fatal(err)
					}
					walBytes := writeWAL(b, src, walMB)
					src.sql(b, "INSERT INTO marks DEFAULT VALUES")
					want := src.sql(b, counts)
					src.switchAndWait(b)
					if err := src.stop("fast"); err != nil {
						b.Fatal(err)
					}

					r := &cluster{u: u, data: u.mkdir(b, filepath.Join(dir, "restore", "data")), sock: u.mkdir(b, filepath.Join(dir, "restore", "sock")), port: 5433}
					dropCaches()
					start := time.Now()
					if err := t.restore(r.data); err != nil {
						b.Fatal(err)
					}
					fetched := time.Since(start)
					r.configure(b, "archive_mode = off\n")
					r.start(b)
					r.waitPromoted(b)
					total := time.Since(start)
					if got, err := r.query(counts); err != nil || got != want {
						b.Fatalf("%s recovered %q (%v), the source had %q", p.name, got, err, want)
					}
					r.stop("immediate")
					os.RemoveAll(dir)
					replay := total - fetched
					b.ReportMetric(fetched.Seconds(), "restore-s")
					b.ReportMetric(replay.Seconds(), "replay-s")
					b.ReportMetric(total.Seconds(), "total-s")
					b.ReportMetric(walBytes/1e6/replay.Seconds(), "WAL-MB/s")
				}
			})
		}
	})
}

// writeWAL runs pgbench on c until it has written at least mb MB of WAL and returns the bytes
// written.
func writeWAL(b *testing.B, c *cluster, mb int) float64 {
	b.Helper()
	from := c.sql(b, "SELECT pg_current_wal_lsn()")
	for {
		c.u.must(b, filepath.Join(pgBin, "pgbench"), "-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres", "-n", "-c", "4", "-j", "2", "-T", "5", "postgres")
		n, err := strconv.ParseFloat(c.sql(b, "SELECT pg_current_wal_lsn() - '"+from+"'::pg_lsn"), 64)
		if err != nil {
			b.Fatal(err)
		}
		if n >= float64(mb)*(1<<20) {
			return n
		}
	}
}

// waitPromoted waits until the server has finished recovery and promoted, failing if it stops.
func (c *cluster) waitPromoted(b *testing.B) {
	b.Helper()
	for deadline := time.Now().Add(time.Hour); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out, err := c.query("SELECT pg_is_in_recovery()"); err == nil && out == "f" {
			return
		}
		if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err != nil {
			b.Fatalf("the server stopped during recovery:\n%s", tail(c.data+".log"))
		}
	}
	b.Fatalf("not promoted within an hour:\n%s", tail(c.data+".log"))
}
