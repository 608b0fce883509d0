package bench

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/storetest"
	"github.com/pgcharm/postgresql/internal/wal"
)

// BenchmarkWALPushPeers archives the same 1 GiB bursts of segments of a real (stopped) cluster
// with our wal-push, pgBackRest 2.45 archive-push (synchronous, and asynchronous with 2 and 4
// processes: as many as cores, and the most it gains from here) and barman-cloud-wal-archive 3.4 (gzip: its snappy needs python3-snappy,
// whose Debian 12 build fails under Python 3.11), into a
// local repository and into S3 (versitygw over TLS, since pgBackRest speaks S3 only over TLS).
// Every tool runs as its archive_command, through /bin/sh in the data directory, one file at a
// time, oldest first, .ready renamed to .done on success: what PostgreSQL's archiver does. The
// tools take turns, one burst each per round (BENCH_ROUNDS, default 3), so that a shared host's
// load falls on all alike; BENCH_TOOLS (a regexp on repo/tool, e.g. "s3/(ours|pgbackrest)")
// selects which run.
// peak-RSS-MB is the largest resident set of one archive_command, its children included (the
// kernel's rusage of each waited-for shell); pgBackRest's asynchronous archiver runs detached
// from the command, where wait4 cannot see it, so its rows have none.
func BenchmarkWALPushPeers(b *testing.B) {
	pg := newPostgresRunner(b)
	base := tempDir(b, "archive-peers-")
	bin := filepath.Join(base, "pgcharm")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/cli/cmdtest").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	archiver := buildArchiver(b, base)
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	mkdirAll(b, sock)
	pg.must(b, "/", filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	pg.writeFile(b, filepath.Join(data, "postgresql.auto.conf"),
		fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n", sock))
	sysid, err := archive.ReadControlSystemID(data)
	if err != nil {
		b.Fatal(err)
	}
	s3 := storetest.S3TLS(b, "127.0.0.1")
	ep, err := url.Parse(s3.Creds.AWSEndpoint)
	if err != nil {
		b.Fatal(err)
	}
	// The tools run as postgres, who cannot read the server's directory.
	ca := filepath.Join(base, "s3-ca.pem")
	if pem, err := os.ReadFile(s3.CAFile); err != nil || os.WriteFile(ca, pem, 0o644) != nil {
		b.Fatalf("copy the S3 certificate: %v", err)
	}
	s3Env := []string{"SSL_CERT_FILE=" + ca, "AWS_CA_BUNDLE=" + ca,
		"AWS_ACCESS_KEY_ID=" + s3.Creds.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + s3.Creds.AWSSecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"PGBACKREST_REPO1_S3_KEY=" + s3.Creds.AWSAccessKeyID, "PGBACKREST_REPO1_S3_KEY_SECRET=" + s3.Creds.AWSSecretAccessKey}

	// One archive per tool and repository; ours made by writing its configuration file.
	oursWith := func(bin, name, uri string) string {
		cfg := filepath.Join(base, name+".json")
		c := archive.Config{URI: uri, Compression: "lz4"}
		if strings.HasPrefix(uri, "s3:") {
			c.Credentials = s3.Creds
		}
		body, _ := json.Marshal(c)
		pg.writeFile(b, cfg, string(body))
		return archive.ArchiveCommand(bin, cfg, uri)
	}
	ours := func(name, uri string) string { return oursWith(bin, name, uri) }
	pgbr := func(name string, s3repo, async bool, procs int) string {
		dir := filepath.Join(base, name)
		for _, d := range []string{"repo", "spool", "log", "lock"} {
			mkdirAll(b, filepath.Join(dir, d))
		}
		repo := fmt.Sprintf("repo1-path=%s/repo\n", dir)
		if s3repo {
			repo = fmt.Sprintf("repo1-type=s3\nrepo1-path=/%s\nrepo1-s3-bucket=pgbackrest\nrepo1-s3-endpoint=%s\n"+
				"repo1-storage-port=%s\nrepo1-s3-region=us-east-1\nrepo1-s3-uri-style=path\nrepo1-storage-ca-file=%s\n",
				name, ep.Hostname(), ep.Port(), ca)
		}
		conf := filepath.Join(dir, "pgbackrest.conf")
		pg.writeFile(b, conf, fmt.Sprintf("[global]\n%scompress-type=lz4\nlog-path=%s/log\nlock-path=%s/lock\nspool-path=%s/spool\n"+
			"process-max=%d\narchive-async=%s\nlog-level-console=warn\n[bench]\npg1-path=%s\npg1-socket-path=%s\n",
			repo, dir, dir, dir, procs, map[bool]string{true: "y", false: "n"}[async], data, sock))
		return conf
	}
	type tool struct {
		repo, name string
		command    string // archive_command
		peer       string // the program a peer needs installed
	}
	var tools []tool
	tools = append(tools,
		tool{"local", "ours-lz4", ours("ours-local", "file://"+filepath.Join(base, "ours-local")), ""},
		tool{"local", "ours-lz4-one-by-one", "", ""},
		tool{"s3", "ours-lz4", ours("ours-s3", "s3://ours/wal"), ""},
		tool{"s3", "ours-lz4-one-by-one", "", ""})
	// One by one: the same binary without uploads ahead, hence without the shell's fast path.
	tools[1].command = fmt.Sprintf(`%s wal-push --config %s --ahead -1 "%%p"`, bin, filepath.Join(base, "ours-local.json"))
	tools[3].command = fmt.Sprintf(`%s wal-push --config %s --ahead -1 "%%p"`, bin, filepath.Join(base, "ours-s3.json"))
	// BENCH_BASELINE names another build of ours (say main's, before a change) that takes its
	// turns beside: as a peer, so that ours/it is what the change gained, in the same run.
	if old := os.Getenv("BENCH_BASELINE"); old != "" {
		copied := filepath.Join(base, "baseline")
		if body, err := os.ReadFile(old); err != nil || os.WriteFile(copied, body, 0o755) != nil {
			b.Fatalf("BENCH_BASELINE: %v", err)
		}
		tools = append(tools, tool{"s3", "baseline-lz4", oursWith(copied, "baseline-s3", "s3://ours/baseline"), ""})
	}
	if p, err := exec.LookPath("pgbackrest"); err == nil {
		for _, repo := range []string{"local", "s3"} {
			// process-max: 1 when synchronous (it pushes only the file asked for), else 2 and 4.
			for _, procs := range []int{0, 2, 4} {
				name, async := "pgbackrest-lz4-sync", procs > 0
				if async {
					name = fmt.Sprintf("pgbackrest-lz4-async-%d", procs)
				}
				conf := pgbr(repo+"-"+name, repo == "s3", async, max(procs, 1))
				tools = append(tools, tool{repo, name, fmt.Sprintf(`%s --config=%s --stanza=bench archive-push "%%p"`, p, conf), "pgbackrest"})
			}
		}
	} else {
		tools = append(tools, tool{"local", "pgbackrest", "", "pgbackrest"}, tool{"s3", "pgbackrest", "", "pgbackrest"})
	}
	if p, err := exec.LookPath("barman-cloud-wal-archive"); err == nil {
		tools = append(tools, tool{"s3", "barman-cloud-gzip", fmt.Sprintf(`%s --cloud-provider aws-s3 --endpoint-url %s --gzip s3://barman/wal bench "%%p"`,
			p, s3.Creds.AWSEndpoint), "barman-cloud-wal-archive"})
	} else {
		tools = append(tools, tool{"s3", "barman-cloud", "", "barman-cloud-wal-archive"})
	}

	// Ours creates its bucket on first use; pgBackRest needs its bucket and stanza first, and
	// stanza-create needs the server running.
	pg.env = append(pg.env, s3Env...)
	pg.must(b, "/", bin, "backup-list", "--config", filepath.Join(base, "ours-s3.json"))
	for _, bucket := range []string{"pgbackrest", "barman"} {
		pg.must(b, "/", bin, "backup-list", "--config", filepath.Join(base, "ours-s3.json"), "--uri", "s3://"+bucket+"/probe")
	}
	pg.must(b, "/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(base, "server.log"), "-w", "start")
	for _, t := range tools {
		if strings.HasPrefix(t.name, "pgbackrest") && t.command != "" {
			conf := strings.TrimPrefix(strings.Fields(t.command)[1], "--config=")
			if err := pg.run("/", "pgbackrest", "--config="+conf, "--stanza=bench", "stanza-create"); err != nil {
				pg.run("/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
				b.Fatal(err)
			}
		}
	}
	pg.must(b, "/", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "fast", "stop")

	// Rounds: every selected tool archives one burst per round, in an order rotated each
	// round, so that the load of a shared host falls on all of them alike; each tool's figure is
	// its total over the rounds. The measuring happens here, the sub-benchmarks only report.
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	selected, err := regexp.Compile(os.Getenv("BENCH_TOOLS"))
	if err != nil {
		b.Fatalf("BENCH_TOOLS: %v", err)
	}
	var active []tool
	for _, t := range tools {
		if t.command != "" && selected.MatchString(t.repo+"/"+t.name) {
			active = append(active, t)
		}
	}
	type total struct {
		bursts  int
		elapsed time.Duration
		rss     int64
	}
	totals := map[string]*total{}
	next := uint64(0x100)
	for r := range rounds {
		for i := range active {
			t := active[(i+r)%len(active)]
			pg.readySegments(b, data, next, burst, sysid)
			next += burst
			syscall.Sync() // the burst's own writes are not the tool's to flush
			start := time.Now()
			rss := pg.archiveAll(b, archiver, data, t.command)
			tt := totals[t.repo+"/"+t.name]
			if tt == nil {
				tt = &total{}
				totals[t.repo+"/"+t.name] = tt
			}
			tt.bursts++
			tt.elapsed += time.Since(start)
			tt.rss = max(tt.rss, rss)
		}
	}
	for _, t := range tools {
		b.Run(t.repo+"/"+t.name, func(b *testing.B) {
			if t.command == "" {
				b.Skipf("%s is not installed (make bench installs the peers)", t.peer)
			}
			tt := totals[t.repo+"/"+t.name]
			if tt == nil {
				b.Skip("not selected by BENCH_TOOLS")
			}
			b.ReportMetric(float64(burst*tt.bursts)/tt.elapsed.Seconds(), "segments/s")
			b.ReportMetric(float64(burst*tt.bursts*segSize)/tt.elapsed.Seconds()/1e6, "MB/s")
			if !strings.Contains(t.name, "async") {
				b.ReportMetric(float64(tt.rss)/1e6, "peak-RSS-MB")
			}
		})
	}
}

// postgresRunner runs programs as the postgres user, which PostgreSQL and the peers require.
type postgresRunner struct {
	cred     *syscall.Credential
	uid, gid int
	env      []string
}

func newPostgresRunner(b *testing.B) *postgresRunner {
	if os.Geteuid() != 0 {
		b.Skip("needs root to run PostgreSQL and the archivers as postgres")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Skip("needs the postgres user (apt install postgresql)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &postgresRunner{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid,
		env: []string{"HOME=/var/lib/postgresql", "PATH=" + pgBin + ":/usr/bin:/bin", "LANG=C.UTF-8"},
	}
}

func (p *postgresRunner) run(dir, name string, args ...string) error {
	_, err := p.output(dir, name, args...)
	return err
}

// output is run returning the command's standard output.
func (p *postgresRunner) output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Env, cmd.Dir = p.env, dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

func (p *postgresRunner) must(b *testing.B, dir, name string, args ...string) {
	b.Helper()
	if err := p.run(dir, name, args...); err != nil {
		b.Fatal(err)
	}
}

// writeFile writes a file postgres owns.
func (p *postgresRunner) writeFile(b *testing.B, path, body string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	os.Chown(path, p.uid, p.gid)
}

// readySegments puts n WAL-like segments from segment number first into data's pg_wal, each
// marked .ready, as a busy primary leaves them.
func (p *postgresRunner) readySegments(b *testing.B, data string, first uint64, n int, sysid uint64) {
	b.Helper()
	walDir := filepath.Join(data, "pg_wal")
	status := filepath.Join(walDir, "archive_status")
	entries, _ := os.ReadDir(status)
	for _, e := range entries {
		os.Remove(filepath.Join(status, e.Name()))
	}
	r := rand.New(rand.NewSource(int64(first)))
	for i := range n {
		s := wal.Segment{TLI: 1, SegNo: first + uint64(i)}
		p.writeFile(b, filepath.Join(walDir, s.Name()), string(walLike(s, sysid, r)))
		p.writeFile(b, filepath.Join(status, s.Name()+".ready"), "")
	}
}

// archiveAll is PostgreSQL's archiver, as postgres (see archiveReady); it returns the largest
// peak RSS of one call.
func (p *postgresRunner) archiveAll(b *testing.B, archiver, data, command string) int64 {
	b.Helper()
	return archiveReady(b, archiver, data, command, p.output)
}

// archiveReady runs the archiver command (package archiver, built by buildArchiver) on data
// with command, through run, and returns the largest peak RSS of one call: it does what
// PostgreSQL's archiver does, in a small process of its own.
func archiveReady(b *testing.B, archiver, data, command string, run func(dir, name string, args ...string) (string, error)) int64 {
	b.Helper()
	out, err := run(data, archiver, data, command)
	if err != nil {
		b.Fatal(err)
	}
	var peak int64
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "peak-rss-bytes %d", &peak); err != nil {
		b.Fatalf("archiver said %q: %v", out, err)
	}
	return peak
}

// buildArchiver builds the archiver command into dir (which postgres must be able to enter).
func buildArchiver(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "archiver")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pgcharm/postgresql/internal/archive/bench/archiver").CombinedOutput(); err != nil {
		b.Fatalf("build the archiver: %v\n%s", err, out)
	}
	return bin
}

func tempDir(b *testing.B, pattern string) string {
	b.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	return dir
}

func mkdirAll(b *testing.B, dir string) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o777)
}
