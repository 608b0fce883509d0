package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// BenchmarkWALPushInProcess runs wal-push's work on 1 GiB bursts inside one process (the call
// for the oldest segment uploading the others ahead, then calls for what is left, as the
// archiver's calls would), into versitygw over TLS, so that a CPU or heap profile sees where
// the time goes; process starts are left out (BenchmarkWALPushPeers has them). The system's
// trusted roots are read once per process, so the benchmark starts the server and runs itself
// again with SSL_CERT_FILE naming its certificate; BENCH_CPUPROFILE and BENCH_MEMPROFILE name
// that run's profiles.
func BenchmarkWALPushInProcess(b *testing.B) {
	if env := os.Getenv("BENCH_INPROCESS_CREDENTIALS"); env != "" {
		var creds store.Credentials
		if err := json.Unmarshal([]byte(env), &creds); err != nil {
			b.Fatal(err)
		}
		walPushInProcess(b, creds)
		return
	}
	srv := storetest.S3TLS(b, "127.0.0.1")
	creds, _ := json.Marshal(srv.Creds)
	args := []string{"-test.run", "^$", "-test.bench", "^BenchmarkWALPushInProcess$", "-test.benchtime", strconv.Itoa(b.N) + "x"}
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		args = append(args, "-test.cpuprofile", p)
	}
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" {
		args = append(args, "-test.memprofile", p)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+srv.CAFile, "SSL_CERT_DIR="+filepath.Dir(srv.CAFile),
		"BENCH_INPROCESS_CREDENTIALS="+string(creds))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	for _, unit := range []string{"segments/s", "MB/s"} {
		m := regexp.MustCompile(`([0-9.]+) ` + regexp.QuoteMeta(unit)).FindSubmatch(out)
		if m == nil {
			b.Fatalf("no %s in\n%s", unit, out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		b.ReportMetric(v, unit)
	}
}

func walPushInProcess(b *testing.B, creds store.Credentials) {
	ctx := context.Background()
	cfg := archive.Config{Credentials: creds, URI: fmt.Sprintf("s3://bench/inprocess-%d", time.Now().UnixNano()), Compression: "lz4"}
	a, err := archive.Open(ctx, cfg, "")
	if err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	next := uint64(16)
	for range b.N {
		b.StopTimer()
		dir, names := pgdata(b, next, burst)
		next += burst
		b.StartTimer()
		start := time.Now()
		for _, n := range names {
			if err := a.WALPush(ctx, filepath.Join(dir, "pg_wal", n), archive.PushOptions{}); err != nil {
				b.Fatal(err)
			}
			st := filepath.Join(dir, "pg_wal", "archive_status", n)
			os.Rename(st+".ready", st+".done") // what the archiver does after a success
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(burst*b.N)/elapsed.Seconds(), "segments/s")
	b.ReportMetric(float64(burst*b.N*segSize)/elapsed.Seconds()/1e6, "MB/s")
}
