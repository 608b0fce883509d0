// Package storetest starts real object-store servers for tests: versitygw for S3, a one-replica
// OpenStack Swift with tempauth, Azurite for Azure Blob and fake-gcs-server for GCS, plus plain
// directories for file://. Each server listens on an address the caller chooses (loopback, or a
// test network's bridge address so that other namespaces can reach it), keeps its data in a test
// temporary directory and is stopped by the test's cleanup. tests/setup/stores.sh installs the
// binaries; a test whose server is not installed is skipped with a message naming that script,
// unless STORETEST_REQUIRE=1 (set it in CI) turns the skip into a failure.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// Server is one running store server.
type Server struct {
	Name  string                             // s3, swift, azure, gcs or file
	URI   func(bucket, prefix string) string // a storage URI on this server
	Creds store.Credentials                  // credentials (and endpoint) that work with it
	Addr  string                             // host:port clients connect to ("" for file)
	// Stop stops the server, keeping its data, so tests can exercise an unavailable store; it is
	// idempotent. Start brings it back on the same address with the same data. Both are no-ops
	// for file.
	Stop  func()
	Start func() error
	// StartupTime is how long the server took to answer after being started.
	StartupTime time.Duration
	// CAFile is the PEM certificate clients must trust when the server speaks TLS with a
	// self-signed certificate ("" otherwise).
	CAFile string
}

// readyTimeout bounds the wait for a server to answer. Generous: on a loaded 2-core CI machine
// Swift's four Python servers have taken over a minute to start.
const readyTimeout = 4 * time.Minute

// errExited marks a server that ended during start-up, most likely because another process took
// its port between freePort and bind; the start is then retried on new ports.
var errExited = errors.New("exited during start-up")

// retry runs start up to three times while the server exits during start-up.
func retry(t testing.TB, ip string, start func(testing.TB, string) (*Server, error)) (*Server, error) {
	var err error
	for range 3 {
		var s *Server
		if s, err = start(t, ip); !errors.Is(err, errExited) {
			return s, err
		}
	}
	return nil, err
}

var errMissing = errors.New("not installed")

func missing(bin string) error {
	return fmt.Errorf("%w: %s is not on PATH; install the test servers with tests/setup/stores.sh (as root)", errMissing, bin)
}

// handle turns a start error into a skip (missing binary) or a fatal failure.
func handle(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if errors.Is(err, errMissing) {
		if os.Getenv("STORETEST_REQUIRE") == "1" {
			t.Fatalf("%v (STORETEST_REQUIRE=1)", err)
		}
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// S3 starts versitygw with its posix backend; clients use path-style requests at Creds.AWSEndpoint.
func S3(t testing.TB, listenIP string) *Server {
	t.Helper()
	s, err := retry(t, listenIP, startS3)
	return handle(t, s, err)
}

// S3TLS starts versitygw over HTTPS with a self-signed certificate for listenIP, which
// Server.CAFile holds: clients trust it through SSL_CERT_FILE (Go), AWS_CA_BUNDLE (boto3) or
// repo1-storage-ca-file (pgBackRest).
func S3TLS(t testing.TB, listenIP string) *Server {
	t.Helper()
	s, err := retry(t, listenIP, startS3TLS)
	return handle(t, s, err)
}

// Swift starts a one-replica Swift (proxy with tempauth, account, container and object servers,
// memcached); the proxy listens on listenIP, the others on 127.0.0.1.
func Swift(t testing.TB, listenIP string) *Server {
	t.Helper()
	s, err := retry(t, listenIP, startSwift)
	return handle(t, s, err)
}

// Azure starts azurite-blob with its well-known development account.
func Azure(t testing.TB, listenIP string) *Server {
	t.Helper()
	s, err := retry(t, listenIP, startAzure)
	return handle(t, s, err)
}

// GCS starts fake-gcs-server over plain HTTP; clients use Creds.GCSEndpoint without credentials.
func GCS(t testing.TB, listenIP string) *Server {
	t.Helper()
	s, err := retry(t, listenIP, startGCS)
	return handle(t, s, err)
}

// File gives file:// URIs under a test temporary directory.
func File(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	return &Server{
		Name: "file",
		URI: func(bucket, prefix string) string {
			return "file://" + filepath.Join(dir, bucket, prefix)
		},
		Stop:  func() {},
		Start: func() error { return nil },
	}
}

// All starts, in parallel, every server whose binary is installed, plus File; missing ones are
// logged with the install hint (or fail the test under STORETEST_REQUIRE=1).
func All(t testing.TB, listenIP string) []*Server {
	t.Helper()
	starters := []func(testing.TB, string) (*Server, error){startS3, startSwift, startAzure, startGCS}
	servers := make([]*Server, len(starters))
	errs := make([]error, len(starters))
	var wg sync.WaitGroup
	for i, start := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = retry(t, listenIP, start)
		}()
	}
	wg.Wait()
	var out []*Server
	for i, err := range errs {
		switch {
		case errors.Is(err, errMissing) && os.Getenv("STORETEST_REQUIRE") != "1":
			t.Logf("skipping a store: %v", err)
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, servers[i])
		}
	}
	return append(out, File(t))
}

// freePort asks the kernel for a port that is free on ip right now.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is one server process in its own process group, logging to a file.
type proc struct {
	name string
	log  string
	args []string
	env  []string
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	lf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	// Pdeathsig ends the server if the test binary dies without cleanup (a timeout panic). It
	// fires when the forking OS thread ends, so the fork happens on a thread that lives as long
	// as the process (see spawn).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// exited reports whether the process has ended on its own.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the whole process group: TERM, then KILL after a grace period.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	// Workers forked by the server may outlive their parent; KILL the group in any case.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// group is the set of processes of one server, started in order and stopped in reverse.
type group struct {
	name  string
	procs []*proc
	ready func(context.Context) error
}

func (g *group) start() (time.Duration, error) {
	t0 := time.Now()
	for _, p := range g.procs {
		if err := p.start(); err != nil {
			g.stop()
			return 0, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last error
	for {
		for _, p := range g.procs {
			if p.exited() {
				g.stop()
				return 0, fmt.Errorf("%s: %s %w; log %s:\n%s", g.name, p.name, errExited, p.log, p.tail())
			}
		}
		if last = g.ready(ctx); last == nil {
			return time.Since(t0), nil
		}
		select {
		case <-ctx.Done():
			var logs strings.Builder
			for _, p := range g.procs {
				fmt.Fprintf(&logs, "--- %s (%s):\n%s\n", p.name, p.log, p.tail())
			}
			g.stop()
			return 0, fmt.Errorf("%s did not answer within %s: %v\n%s", g.name, readyTimeout, last, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (g *group) stop() {
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.procs[i].stop()
	}
}

// launch starts g and fills in the server's Stop, Start and StartupTime, with cleanup on t.
func launch(t testing.TB, g *group, s *Server) (*Server, error) {
	d, err := g.start()
	if err != nil {
		return nil, err
	}
	s.StartupTime = d
	s.Stop = g.stop
	s.Start = func() error { _, err := g.start(); return err }
	t.Cleanup(g.stop)
	return s, nil
}

// httpAnswers is a readiness check: any HTTP answer (even an error status) from url, or the
// wanted status when want is not zero.
func httpAnswers(url string, want int, header http.Header) func(context.Context) error {
	return httpAnswersWith(http.DefaultClient, url, want, header)
}

// httpAnswersWith is httpAnswers through client (its transport; the timeout is set here).
func httpAnswersWith(client *http.Client, url string, want int, header http.Header) func(context.Context) error {
	client = &http.Client{Transport: client.Transport, Timeout: 10 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if want != 0 && resp.StatusCode != want {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func hostURL(ip string, port int) string {
	return "http://" + net.JoinHostPort(ip, fmt.Sprint(port))
}

func lookBin(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", missing(name)
	}
	return p, nil
}

func joinPrefix(bucket, prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return bucket
	}
	return bucket + "/" + prefix
}

var execCommand = exec.Command

var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from a goroutine locked to its OS thread for the life of the process, so that
// the Pdeathsig of the child fires only when the test process itself ends.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd, done}
	return <-done
}
