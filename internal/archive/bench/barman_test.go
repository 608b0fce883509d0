package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/storetest"
)

// BenchmarkWALPushS3Peers archives the same 1 GiB burst into S3 (versitygw) with our wal-push
// and with barman-cloud-wal-archive 3.4 (gzip, its fastest built-in compression besides
// snappy), both driven like PostgreSQL's archiver.
func BenchmarkWALPushS3Peers(b *testing.B) {
	barman, err := exec.LookPath("barman-cloud-wal-archive")
	if err != nil {
		b.Skip("barman-cloud-wal-archive not installed (apt install barman-cli-cloud python3-boto3)")
	}
	bin := buildBinary(b)
	srv := storetest.S3(b, "127.0.0.1")
	c := srv.Creds
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.AWSSecretAccessKey,
		"AWS_DEFAULT_REGION="+c.AWSRegion)
	tools := []struct {
		name string
		cmd  func(cfg, p string) []string
	}{
		{"ours-lz4", func(cfg, p string) []string { return []string{bin, "wal-push", "--config", cfg, p} }},
		{"ours-lz4-one-by-one", func(cfg, p string) []string { return []string{bin, "wal-push", "--config", cfg, "--ahead", "-1", p} }},
		{"barman-cloud-gzip", func(_, p string) []string {
			return []string{barman, "--cloud-provider", "aws-s3", "--endpoint-url", c.AWSEndpoint, "-z", "s3://bench/barman", "pg", p}
		}},
	}
	for _, tool := range tools {
		b.Run(tool.name, func(b *testing.B) {
			var elapsed time.Duration
			for i := range b.N {
				b.StopTimer()
				cfg := writeConfig(b, srv, fmt.Sprintf("peers-%s-%d-%d", tool.name, i, time.Now().UnixNano()), "lz4")
				dir, _ := pgdata(b, uint64(0x200+i*burst), burst)
				b.StartTimer()
				start := time.Now()
				status := filepath.Join(dir, "pg_wal", "archive_status")
				for {
					entries, _ := os.ReadDir(status)
					var ready []string
					for _, e := range entries {
						if n, ok := strings.CutSuffix(e.Name(), ".ready"); ok {
							ready = append(ready, n)
						}
					}
					if len(ready) == 0 {
						break
					}
					sort.Strings(ready)
					args := tool.cmd(cfg, filepath.Join("pg_wal", ready[0]))
					cmd := exec.Command(args[0], args[1:]...)
					cmd.Dir, cmd.Env = dir, env
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%s: %v\n%s", tool.name, err, out)
					}
					os.Rename(filepath.Join(status, ready[0]+".ready"), filepath.Join(status, ready[0]+".done"))
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(burst*b.N)/elapsed.Seconds(), "segments/s")
			b.ReportMetric(float64(burst*b.N*segSize)/elapsed.Seconds()/1e6, "MB/s")
		})
	}
}
