package bench

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// BenchmarkBackupPeers takes and restores a base backup of a pgbench database (at each scale of
// the comma-separated BENCH_SCALE, default 135, about 2 GiB; 540 is about 8 GiB) with our backup-push/restore, pgBackRest 2.45 and barman-cloud 3.4,
// all against the same HTTPS versitygw (pgBackRest speaks S3 only over TLS) with the same
// parallelism and each tool's fastest compression, next to physical limits measured on the same
// bytes: reading the data directory from disk, and streaming it as one tar over loopback TCP
// (discarded, or written back to disk with and without fsync). Rates are the data directory's
// size without pg_wal divided by the elapsed time, for every row alike. The page cache is
// dropped before each timed step (when the kernel allows it) so that every tool reads from disk.
// A tool's fetch can beat the limits: it reads compressed objects, not the raw bytes. The
// peak-RSS columns are the largest resident set of the tool's command and the children it
// waited for (wait4's rusage), which must not grow with the database.
func BenchmarkBackupPeers(b *testing.B) {
	u := postgresUser(b)
	scales := strings.Split(os.Getenv("BENCH_SCALE"), ",")
	if scales[0] == "" {
		scales = []string{"135"}
	}
	base := benchDir(b, "backup-peers-")
	bin := buildFor(b, base)
	baseline := baselineBinary(b, base)
	u.starter = buildArchiver(b, base)
	st := startTLSStore(b, u, base)
	for i, scale := range scales {
		b.Run("scale-"+scale, func(b *testing.B) {
			backupPeers(b, u, st, bin, baseline, filepath.Join(base, "scale-"+scale), 5432+i, scale)
		})
	}
}

// backupPeers is BenchmarkBackupPeers at one pgbench scale, on a cluster in dir removed at the
// end (an 8 GiB source and its restores do not all fit beside the next scale's).
func backupPeers(b *testing.B, u *pgUser, st *tlsStore, bin, baseline, dir string, port int, scale string) {
	u.mkdir(b, dir)
	b.Cleanup(func() { os.RemoveAll(dir) })
	// Autovacuum off keeps the data directory still between the source's measurement and the
	// restores compared with it.
	c := newCluster(b, u, filepath.Join(dir, "source"), port, "autovacuum = off\nmax_wal_size = '4GB'\n")
	c.start(b)
	u.must(b, filepath.Join(pgBin, "pgbench"), "-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres", "-i", "-q", "-s", scale, "postgres")
	c.sql(b, "CHECKPOINT")
	src, err := treeStats(c.data)
	if err != nil {
		b.Fatal(err)
	}
	dropped := dropCaches()
	// Printed here, before any sub-benchmark starts its result line.
	fmt.Printf("backup peers, scale %s: data directory without pg_wal: %d files, %.0f MB; %d streams; page cache dropped before each timed step: %v\n",
		scale, src.files, float64(src.bytes)/1e6, parallelism(), dropped)
	mb := float64(src.bytes) / 1e6

	// Rounds: every selected row is measured once per round, in an order rotated each round,
	// so that the load of a shared host falls on all of them alike (BENCH_ROUNDS, default 1);
	// each row's rate is its bytes over its total time, its peak RSS the largest of the rounds.
	// The measuring happens here; the sub-benchmarks only report.
	type row struct {
		repo, name, needs string
		measure           func(b *testing.B, i int) measured
	}
	var rows []row
	for _, repo := range []string{"s3", "local"} {
		for _, p := range peers(u, st, bin, baseline, repo) {
			rows = append(rows, row{repo, p.name, p.needs, func(b *testing.B, i int) measured {
				return measurePeer(b, u, c, src, p, filepath.Join(dir, fmt.Sprintf("restore-%s-%s-%d", repo, p.name, i)),
					fmt.Sprintf("backup-%s-%s-%s-%d-%d", repo, p.name, scale, i, time.Now().UnixNano()))
			}})
		}
	}
	for _, reads := range []int{1 << 20, 8 << 10} {
		name := "limit-disk-read"
		if reads != 1<<20 {
			name = fmt.Sprintf("limit-disk-read-%dk", reads>>10)
		}
		rows = append(rows, row{"local", name, "", func(b *testing.B, i int) measured {
			dropCaches()
			start := time.Now()
			if n := readAll(c.data, reads); n < src.bytes*99/100 {
				b.Fatalf("read %d bytes of %d", n, src.bytes)
			}
			return measured{push: time.Since(start)}
		}})
	}
	// Our restore and barman-cloud-restore leave flushing to the kernel (and to PostgreSQL,
	// which syncs the data directory when it starts on a backup with fsync on); pgBackRest
	// fsyncs every file. Hence two fetch-side limits: written as they do, and fsynced.
	for _, fsync := range []bool{false, true} {
		name := "limit-loopback-copy"
		if fsync {
			name += "-fsync"
		}
		rows = append(rows, row{"local", name, "", func(b *testing.B, i int) measured {
			var m measured
			if !fsync {
				dropCaches()
				push, err := overLoopback(func(w io.Writer) error { return tarTo(w, c.data) },
					func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
				if err != nil {
					b.Fatalf("tar to a discarding reader over loopback: %v", err)
				}
				m.push = push
			}
			dir := filepath.Join(dir, fmt.Sprintf("restore-%s-%d", name, i))
			dropCaches()
			fetch, err := overLoopback(func(w io.Writer) error { return tarTo(w, c.data) },
				func(r io.Reader) error { return untarTo(r, dir, fsync) })
			if err != nil {
				b.Fatalf("tar over loopback into %s: %v", dir, err)
			}
			if err := sameTree(src, dir); err != nil {
				b.Fatalf("loopback copy: %v", err)
			}
			os.RemoveAll(dir)
			m.fetch = fetch
			return m
		}})
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	sel := benchSelection()
	var active []int
	for i, r := range rows {
		if sel.matches("scale-"+scale, r.repo, r.name) && (r.needs == "" || hasProgram(r.needs)) {
			active = append(active, i)
		}
	}
	totals := make([]measured, len(rows))
	for round := range rounds {
		for k := range active {
			i := active[(k+round)%len(active)]
			m := rows[i].measure(b, round)
			t := &totals[i]
			t.push += m.push
			t.fetch += m.fetch
			t.pushRSS, t.fetchRSS = max(t.pushRSS, m.pushRSS), max(t.fetchRSS, m.fetchRSS)
			t.pushCPU += m.pushCPU
			t.fetchCPU += m.fetchCPU
		}
	}
	for _, repo := range []string{"s3", "local"} {
		b.Run(repo, func(b *testing.B) {
			for i, r := range rows {
				if r.repo != repo {
					continue
				}
				b.Run(r.name, func(b *testing.B) {
					if r.needs != "" && !hasProgram(r.needs) {
						b.Skipf("%s not installed", r.needs)
					}
					t := totals[i]
					if t.push > 0 {
						b.ReportMetric(mb*float64(rounds)/t.push.Seconds(), "push-MB/s")
					}
					if t.fetch > 0 {
						b.ReportMetric(mb*float64(rounds)/t.fetch.Seconds(), "fetch-MB/s")
					}
					if t.pushRSS > 0 {
						b.ReportMetric(float64(t.pushRSS)/1e6, "push-peak-RSS-MB")
					}
					if t.fetchRSS > 0 {
						b.ReportMetric(float64(t.fetchRSS)/1e6, "fetch-peak-RSS-MB")
					}
					// CPU seconds per GB (the commands' own, not the store server's).
					if t.pushCPU > 0 {
						b.ReportMetric(t.pushCPU.Seconds()/(mb*float64(rounds)/1e3), "push-CPU-per-GB-s")
					}
					if t.fetchCPU > 0 {
						b.ReportMetric(t.fetchCPU.Seconds()/(mb*float64(rounds)/1e3), "fetch-CPU-per-GB-s")
					}
				})
			}
		})
	}
}

// measured is what one measurement of a row took: its push and fetch times (0: not measured),
// the commands' peak RSS and their CPU time.
type measured struct {
	push, fetch       time.Duration
	pushRSS, fetchRSS int64
	pushCPU, fetchCPU time.Duration // of the tool's commands (user and system)
}

// measurePeer takes a backup of c with p (on the repository prefix), restores it into dir and
// checks that dir holds what c's data directory held, each step on a dropped page cache.
func measurePeer(b *testing.B, u *pgUser, c *cluster, src tree, p peer, dir, prefix string) measured {
	b.Helper()
	t := p.make(b, c, prefix)
	c.useArchiver(b, t)
	defer func() {
		if t.cleanup != nil {
			t.cleanup()
		}
	}()
	var m measured
	dropCaches()
	u.peak, u.cpu = 0, 0
	start := time.Now()
	if err := t.backup(); err != nil {
		b.Fatal(err)
	}
	m.push, m.pushRSS, m.pushCPU = time.Since(start), u.peak, u.cpu
	u.mkdir(b, dir)
	dropCaches()
	u.peak, u.cpu = 0, 0
	start = time.Now()
	if err := t.restore(dir); err != nil {
		b.Fatal(err)
	}
	m.fetch, m.fetchRSS, m.fetchCPU = time.Since(start), u.peak, u.cpu
	if err := sameTree(src, dir); err != nil {
		b.Fatalf("%s restored an incomplete data directory: %v", p.name, err)
	}
	os.RemoveAll(dir)
	return m
}

func hasProgram(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// selection is the -test.bench pattern as the testing package applies it to sub-benchmark
// names (alternatives at top-level "|", levels at top-level "/", each an unanchored regexp),
// so that rows measured outside their sub-benchmarks (in rounds) are the ones it would run.
type selection [][]*regexp.Regexp

func benchSelection() selection {
	pattern := "."
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		pattern = f.Value.String()
	}
	var sel selection
	for _, alt := range splitTop(pattern, '|') {
		var levels []*regexp.Regexp
		for _, lvl := range splitTop(alt, '/') {
			levels = append(levels, regexp.MustCompile(lvl))
		}
		sel = append(sel, levels)
	}
	return sel
}

// matches says whether BenchmarkBackupPeers/names... is selected.
func (s selection) matches(names ...string) bool {
	names = append([]string{"BenchmarkBackupPeers"}, names...)
	for _, levels := range s {
		ok := true
		for i, re := range levels {
			if i < len(names) && !re.MatchString(names[i]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// splitTop splits s at sep outside brackets and parentheses, as testing's splitRegexp does.
func splitTop(s string, sep byte) []string {
	var out []string
	brackets, parens := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			brackets++
		case ']':
			brackets = max(brackets-1, 0)
		case '(':
			if brackets == 0 {
				parens++
			}
		case ')':
			if brackets == 0 {
				parens--
			}
		case '\\':
			i++
		case sep:
			if brackets == 0 && parens == 0 {
				out = append(out, s[:i])
				s, i = s[i+1:], -1
			}
		}
	}
	return append(out, s)
}

// parallelism is the number of streams/processes every tool gets: the CPU count, at least 2,
// as our backup-push chooses by default.
func parallelism() int { return max(runtime.NumCPU(), 2) }

// pgUser runs commands as the OS user postgres (PostgreSQL refuses root) with a fixed
// environment. Credentials and the store's CA reach the tools through that environment (and
// 0600 files), never argv; servers started with it pass it on to archive_command and
// restore_command.
type pgUser struct {
	uid, gid int
	env      []string
	// starter, when set, is the archiver command (buildArchiver) every command is started
	// through, so that peak records their own peak RSS (the benchmark's process would pass its
	// own on to commands it starts; see package archiver): the largest (bytes, children
	// included) since the caller last set it to 0.
	starter string
	peak    int64
	// cpu adds up the CPU time (user and system) of those commands and their children, which
	// a shared host's load changes far less than their elapsed time.
	cpu time.Duration
}

// postgresUser skips the benchmark unless it can run PostgreSQL as postgres.
func postgresUser(b *testing.B) *pgUser {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root to run PostgreSQL as postgres")
	}
	pw, err := user.Lookup("postgres")
	if err != nil {
		b.Skip("needs the postgres user")
	}
	uid, _ := strconv.Atoi(pw.Uid)
	gid, _ := strconv.Atoi(pw.Gid)
	return &pgUser{uid: uid, gid: gid, env: []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8"}}
}

// run runs name as postgres from / and returns its trimmed output; the error holds the output.
func (u *pgUser) run(name string, args ...string) (string, error) {
	return u.runEnv(nil, name, args...)
}

// runEnv is run with env added to u's environment.
func (u *pgUser) runEnv(env []string, name string, args ...string) (string, error) {
	var rssFile string
	if u.starter != "" {
		f, err := os.CreateTemp("", "peak-rss-")
		if err != nil {
			return "", err
		}
		f.Close()
		rssFile = f.Name()
		defer os.Remove(rssFile)
		os.Chown(rssFile, u.uid, u.gid)
		args = append([]string{"rss", rssFile, name}, args...)
		name = u.starter
	}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	cmd.Env = append(append([]string(nil), u.env...), env...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if rssFile != "" {
		if body, rerr := os.ReadFile(rssFile); rerr == nil {
			f := strings.Fields(string(body))
			if len(f) == 2 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				cpu, _ := strconv.ParseInt(f[1], 10, 64)
				u.peak = max(u.peak, n)
				u.cpu += time.Duration(cpu)
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (u *pgUser) must(b *testing.B, name string, args ...string) string {
	b.Helper()
	out, err := u.run(name, args...)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// mkdir makes a directory owned by postgres, and its missing parents.
func (u *pgUser) mkdir(b *testing.B, dir string) string {
	b.Helper()
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	u.mkdir(b, filepath.Dir(dir))
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		b.Fatal(err)
	}
	return dir
}

// appendFile appends text to a file owned by postgres, creating it with mode.
func (u *pgUser) appendFile(path, text string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chown(path, u.uid, u.gid)
}

// writeFile writes a file owned by postgres.
func (u *pgUser) writeFile(path, text string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		return err
	}
	return os.Chown(path, u.uid, u.gid)
}

// benchDir makes a temporary directory postgres can enter, removed when the benchmark ends
// (after the servers in it are stopped: cleanups run last registered first).
func benchDir(b *testing.B, pattern string) string {
	b.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// baselineBinary is the BENCH_BASELINE build of ours, measured beside ours as "baseline" so
// that ours/it is what a change gained in the same run: a binary's path, or a commit of this
// repository whose archive subcommands are built from `git archive` in dir. "" without it.
func baselineBinary(b *testing.B, dir string) string {
	b.Helper()
	old := os.Getenv("BENCH_BASELINE")
	if old == "" {
		return ""
	}
	bin := filepath.Join(dir, "baseline")
	if body, err := os.ReadFile(old); err == nil {
		if err := os.WriteFile(bin, body, 0o755); err != nil {
			b.Fatalf("BENCH_BASELINE: %v", err)
		}
		return bin
	}
	src := filepath.Join(dir, "baseline-src")
	if err := os.Mkdir(src, 0o700); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(src)
	cmd := exec.Command("sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive "$1" | tar -x -C "$2"`, "sh", old, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("BENCH_BASELINE %s: neither a file nor a commit: %v\n%s", old, err, out)
	}
	build := exec.Command("go", "build", "-o", bin, "./internal/archive/cli/cmdtest")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("BENCH_BASELINE %s: build: %v\n%s", old, err, out)
	}
	return bin
}

// buildFor builds our binary where postgres can run it (buildBinary's test directory is
// root's alone).
func buildFor(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "pgcharm-archive")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput()
	if err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// tlsStore is the HTTPS versitygw all tools share, one prefix each in one bucket.
type tlsStore struct {
	srv    *storetest.Server
	ca     string // a copy of the server's certificate postgres can read
	bucket string
	port   string
}

// startTLSStore starts the store, creates the bucket (pgBackRest and barman expect it) and adds
// what every tool needs to u's environment: trust in the certificate (SSL_CERT_FILE for our Go
// binary, AWS_CA_BUNDLE for boto3; pgBackRest gets repo1-storage-ca-file) and the keys for
// pgBackRest and boto3 (ours reads them from its 0600 configuration).
func startTLSStore(b *testing.B, u *pgUser, dir string) *tlsStore {
	b.Helper()
	srv := storetest.S3TLS(b, "127.0.0.1")
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	st := &tlsStore{srv: srv, ca: filepath.Join(dir, "ca.pem"), bucket: strings.TrimPrefix(srv.URI("bench", ""), "s3://")}
	if err := os.WriteFile(st.ca, pem, 0o644); err != nil {
		b.Fatal(err)
	}
	if _, st.port, err = net.SplitHostPort(srv.Addr); err != nil {
		b.Fatal(err)
	}
	if err := createBucket(srv, pem, st.bucket); err != nil {
		b.Fatal(err)
	}
	c := srv.Creds
	u.env = append(u.env, "SSL_CERT_FILE="+st.ca, "AWS_CA_BUNDLE="+st.ca,
		"AWS_ACCESS_KEY_ID="+c.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.AWSSecretAccessKey, "AWS_DEFAULT_REGION="+c.AWSRegion,
		"PGBACKREST_REPO1_S3_KEY="+c.AWSAccessKeyID, "PGBACKREST_REPO1_S3_KEY_SECRET="+c.AWSSecretAccessKey)
	return st
}

// createBucket creates bucket on srv, trusting only the certificate pem.
func createBucket(srv *storetest.Server, pem []byte, bucket string) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", srv.CAFile)
	}
	c := srv.Creds
	client := s3.New(s3.Options{
		Region:       c.AWSRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AWSAccessKeyID, c.AWSSecretAccessKey, ""),
		BaseEndpoint: aws.String(c.AWSEndpoint),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket %s at %s: %w", bucket, c.AWSEndpoint, err)
	}
	return nil
}

// cluster is one PostgreSQL 15 server in its own directory, listening only on its own socket
// directory and port.
type cluster struct {
	u          *pgUser
	data, sock string
	port       int
}

// newCluster runs initdb in dir/data. fsync is off (the tools are measured, not the disk's
// flushes); archiving is on with a no-op command until useArchiver sets a tool's.
func newCluster(b *testing.B, u *pgUser, dir string, port int, conf string) *cluster {
	b.Helper()
	u.mkdir(b, dir)
	c := &cluster{u: u, data: filepath.Join(dir, "data"), sock: u.mkdir(b, filepath.Join(dir, "sock")), port: port}
	u.must(b, filepath.Join(pgBin, "initdb"), "-D", c.data, "-A", "trust", "-U", "postgres", "--no-sync")
	c.configure(b, "fsync = off\narchive_mode = on\narchive_command = '/bin/true'\n"+conf)
	return c
}

// configure appends settings to postgresql.auto.conf, with this cluster's socket and port
// (so that a restored copy of another cluster does not take its source's).
func (c *cluster) configure(b *testing.B, conf string) {
	b.Helper()
	conf = fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n%s", c.sock, c.port, conf)
	if err := c.u.appendFile(filepath.Join(c.data, "postgresql.auto.conf"), conf, 0o600); err != nil {
		b.Fatal(err)
	}
}

// start starts the server, waiting up to an hour (recovery of a restored copy is included),
// and stops it when the benchmark ends, failed or not.
func (c *cluster) start(b *testing.B) {
	b.Helper()
	b.Cleanup(func() { c.stop("immediate") })
	log := c.data + ".log"
	if _, err := c.u.run(filepath.Join(pgBin, "pg_ctl"), "-D", c.data, "-l", log, "-w", "-t", "3600", "start"); err != nil {
		b.Fatalf("%v\n%s", err, tail(log))
	}
}

// stop stops the server if it runs.
func (c *cluster) stop(mode string) error {
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err != nil {
		return nil
	}
	_, err := c.u.run(filepath.Join(pgBin, "pg_ctl"), "-D", c.data, "-m", mode, "-w", "stop")
	return err
}

func (c *cluster) query(q string) (string, error) {
	return c.u.run(filepath.Join(pgBin, "psql"), "-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres",
		"-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", q, "postgres")
}

func (c *cluster) sql(b *testing.B, q string) string {
	b.Helper()
	out, err := c.query(q)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// useArchiver prepares tool t's repository and makes its archive_command the server's, then
// checks that it archives a segment: every tool's backup waits for its own archive.
func (c *cluster) useArchiver(b *testing.B, t *tool) {
	b.Helper()
	if t.setup != nil {
		if err := t.setup(); err != nil {
			b.Fatal(err)
		}
	}
	c.sql(b, "ALTER SYSTEM SET archive_command = '"+strings.ReplaceAll(t.archive, "'", "''")+"'")
	c.sql(b, "SELECT pg_reload_conf()")
	time.Sleep(time.Second) // the archiver rereads the configuration asynchronously
	c.switchAndWait(b)
}

// switchAndWait ends the current WAL segment and waits until the archiver has archived it,
// failing when archive_command keeps failing.
func (c *cluster) switchAndWait(b *testing.B) {
	b.Helper()
	c.sql(b, "SELECT txid_current()") // WAL to switch away from
	last := c.sql(b, "SELECT pg_walfile_name(pg_switch_wal())")
	failed0 := -1
	for deadline := time.Now().Add(30 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		row := strings.Split(c.sql(b, "SELECT coalesce(last_archived_wal, ''), failed_count, coalesce(last_failed_wal, '') FROM pg_stat_archiver"), "|")
		if row[0] >= last {
			return
		}
		failed, _ := strconv.Atoi(row[1])
		if failed0 < 0 {
			failed0 = failed
		}
		if failed-failed0 >= 3 || time.Now().After(deadline) {
			b.Fatalf("%s not archived (last archived %q, %d failures, last failed %q)\n%s", last, row[0], failed-failed0, row[2], tail(c.data+".log"))
		}
	}
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	body, _ := os.ReadFile(path)
	if len(body) > 3000 {
		body = body[len(body)-3000:]
	}
	return string(body)
}

// tool is one backup tool set up for one source cluster and one repository.
type tool struct {
	archive string       // archive_command
	setup   func() error // repository set-up before archiving starts (pgBackRest's stanza-create)
	backup  func() error // base backup of the running source
	// restore fetches the latest base backup into the empty directory dir and sets it up to
	// recover to the end of the archive (restore_command, recovery.signal).
	restore func(dir string) error
	cleanup func() // removes what the measurement left (a local repository); nil: nothing
}

// peer is a tool to compare: its name in benchmark results, the program it needs and how to set
// it up for a source cluster and a repository prefix.
type peer struct {
	name  string
	needs string
	make  func(b *testing.B, c *cluster, prefix string) *tool
}

// peers are our archive engine (lz4, the default), pgBackRest (lz4, process-max N, repo1-bundle
// so that small files share objects as pgBackRest advises for object stores, asynchronous
// archive-get so that WAL is fetched ahead as ours does) and barman-cloud (gzip:
// its only other compressions are bzip2, slower, and snappy, which needs python3-snappy; -J N
// upload processes), each on its own prefix of st's bucket, with its files next to c's data
// directory.
func peers(u *pgUser, st *tlsStore, bin, baseline, repo string) []peer {
	n := parallelism()
	// ours is our backup-push and restore with binary bin, on S3 or on a file:// repository
	// beside the cluster (removed after the measurement).
	ours := func(name, bin string) peer {
		return peer{name, bin, func(b *testing.B, c *cluster, prefix string) *tool {
			cfg := filepath.Join(filepath.Dir(c.data), "archive.json")
			uri := st.srv.URI(st.bucket, prefix)
			var cleanup func()
			if repo == "local" {
				local := filepath.Join(filepath.Dir(c.data), "repo-"+prefix)
				uri = "file://" + local
				cleanup = func() { os.RemoveAll(local) }
			}
			writeConfigAt(b, cfg, st.srv, uri) // 0600, the keys are in it
			return &tool{
				archive: archive.ArchiveCommand(bin, cfg, uri),
				backup: func() error {
					_, err := u.runEnv(profileEnv(prefix), bin, "backup-push", "--config", cfg, "--host", c.sock, "--port", strconv.Itoa(c.port), "--streams", strconv.Itoa(n))
					return err
				},
				restore: func(dir string) error {
					_, err := u.run(bin, "restore", "--config", cfg, dir)
					return err
				},
				cleanup: cleanup,
			}
		}}
	}
	out := []peer{ours("ours", bin)}
	if baseline != "" {
		out = append(out, ours("baseline", baseline))
	}
	if repo != "s3" {
		return out // the peers are measured on S3 only
	}
	return append(out, []peer{
		{"pgbackrest", "pgbackrest", func(b *testing.B, c *cluster, prefix string) *tool {
			dir := filepath.Dir(c.data)
			conf := filepath.Join(dir, "pgbackrest.conf")
			// No secrets here: the keys come from PGBACKREST_REPO1_S3_KEY(_SECRET). The endpoint is
			// localhost because pgBackRest 2.45 matches the certificate's DNS names only, not its
			// IP address.
			body := fmt.Sprintf("[global]\nrepo1-type=s3\nrepo1-path=/%s\nrepo1-s3-bucket=%s\nrepo1-s3-endpoint=localhost\n"+
				"repo1-storage-port=%s\nrepo1-s3-region=%s\nrepo1-s3-uri-style=path\nrepo1-storage-ca-file=%s\n"+
				"compress-type=lz4\nrepo1-bundle=y\nprocess-max=%d\nstart-fast=y\nlog-level-console=warn\n"+
				"log-path=%s\nlock-path=%s\nspool-path=%s\n\n[global:archive-get]\narchive-async=y\n\n"+
				"[bench]\npg1-path=%s\npg1-socket-path=%s\npg1-port=%d\n",
				prefix, st.bucket, st.port, st.srv.Creds.AWSRegion, st.ca, n, dir, dir, dir, c.data, c.sock, c.port)
			if err := u.writeFile(conf, body, 0o644); err != nil {
				b.Fatal(err)
			}
			pgbr := func(args ...string) error {
				_, err := u.run("pgbackrest", append([]string{"--config=" + conf, "--stanza=bench"}, args...)...)
				return err
			}
			return &tool{
				archive: fmt.Sprintf("pgbackrest --config=%s --stanza=bench archive-push %%p", conf),
				setup:   func() error { return pgbr("stanza-create") },
				backup:  func() error { return pgbr("--type=full", "backup") },
				// pgBackRest writes restore_command (archive-get) and recovery.signal itself.
				restore: func(dir string) error { return pgbr("--pg1-path="+dir, "restore") },
			}
		}},
		{"barman-cloud", "barman-cloud-backup", func(b *testing.B, c *cluster, prefix string) *tool {
			url := st.srv.URI(st.bucket, prefix)
			cloud := "--cloud-provider aws-s3 --endpoint-url " + st.srv.Creds.AWSEndpoint
			return &tool{
				archive: fmt.Sprintf("barman-cloud-wal-archive %s -z %s pg %%p", cloud, url),
				backup: func() error {
					_, err := u.run("barman-cloud-backup", append(strings.Fields(cloud), "-z", "-J", strconv.Itoa(n), "--immediate-checkpoint",
						"-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres", "-n", "bench", url, "pg")...)
					return err
				},
				// barman-cloud-restore only fetches: the recovery settings are ours to write.
				restore: func(dir string) error {
					if _, err := u.run("barman-cloud-restore", append(strings.Fields(cloud), url, "pg", "bench", dir)...); err != nil {
						return err
					}
					conf := fmt.Sprintf("restore_command = 'barman-cloud-wal-restore %s %s pg %%f %%p'\n", cloud, url)
					if err := u.appendFile(filepath.Join(dir, "postgresql.auto.conf"), conf, 0o600); err != nil {
						return err
					}
					return u.appendFile(filepath.Join(dir, "recovery.signal"), "", 0o600)
				},
			}
		}},
	}...)
}

// dropCaches writes dirty pages out and empties the page cache, so that each tool reads the
// data directory (and the store its objects) from disk; false when the kernel does not allow it
// (as in most containers).
func dropCaches() bool {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200) == nil
}

// tree counts the regular files of a data directory without pg_wal, as a backup sees it.
type tree struct{ files, bytes int64 }

func treeStats(dir string) (tree, error) {
	var t tree
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "pg_wal" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			t.files++
			t.bytes += info.Size()
		}
		return nil
	})
	return t, err
}

// sameTree checks that dir holds what the source held, give or take what backups leave out or
// add (postmaster.pid, statistics temporaries, backup_label, recovery settings): within 1% in
// bytes and 2% in files. A restore missing a relation segment or a database fails it.
func sameTree(src tree, dir string) error {
	got, err := treeStats(dir)
	if err != nil {
		return err
	}
	if d := got.bytes - src.bytes; d*100 > src.bytes || -d*100 > src.bytes || got.files*100 < src.files*98 || got.files*100 > src.files*102 {
		return fmt.Errorf("%s: %d files, %d bytes; source %d files, %d bytes", dir, got.files, got.bytes, src.files, src.bytes)
	}
	return nil
}

// overLoopback runs send and recv on the two ends of one TCP connection on 127.0.0.1 and
// returns the time until both are done.
func overLoopback(send func(io.Writer) error, recv func(io.Reader) error) (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	received := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			received <- err
			return
		}
		defer conn.Close()
		received <- recv(conn)
	}()
	start := time.Now()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	serr := send(conn)
	conn.Close()
	rerr := <-received
	return time.Since(start), errors.Join(serr, rerr)
}

// tarTo writes the directories and regular files of a data directory, without pg_wal, as a tar
// stream to w. Files that vanish on the way (statistics temporaries) are left out.
func tarTo(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "pg_wal" {
			return filepath.SkipDir
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		if hdr.Name, err = filepath.Rel(dir, p); err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			_, err = io.CopyN(tw, f, info.Size())
		}
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// untarTo writes a tar stream's directories and files under dir, each file fsynced when fsync
// is set.
func untarTo(r io.Reader, dir string, fsync bool) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			continue
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err == nil && fsync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

// profileEnv asks our binary for a CPU profile of one command when BENCH_CPUPROFILE is set:
// BENCH_CPUPROFILE-NAME, written by the command itself (ARCHIVE_CPUPROFILE, see cli/cmdtest),
// since it runs in a process of its own as postgres.
func profileEnv(name string) []string {
	p := os.Getenv("BENCH_CPUPROFILE")
	if p == "" {
		return nil
	}
	p = p + "-" + name
	f, err := os.Create(p)
	if err != nil {
		return nil
	}
	f.Close()
	if u, err := user.Lookup("postgres"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(p, uid, gid)
	}
	return []string{"ARCHIVE_CPUPROFILE=" + p}
}
