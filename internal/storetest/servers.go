package storetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	cryptotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	anyAlnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func startS3(t testing.TB, ip string) (*Server, error) { return startVersity(t, ip, false) }

func startS3TLS(t testing.TB, ip string) (*Server, error) { return startVersity(t, ip, true) }

// startVersity starts versitygw, over HTTPS with a fresh self-signed certificate when tls is set
// (pgBackRest speaks S3 only over TLS).
func startVersity(t testing.TB, ip string, tls bool) (*Server, error) {
	bin, err := lookBin("versitygw")
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	access, secret := "AK"+randomString(18, upperAlnum), randomString(40, anyAlnum)
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	endpoint := hostURL(ip, port)
	args := []string{bin, "--port", addr, "--quiet"}
	var caFile string
	client := http.DefaultClient
	if tls {
		caFile = filepath.Join(dir, "cert.pem")
		keyFile := filepath.Join(dir, "key.pem")
		pool, err := selfSigned(ip, caFile, keyFile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--cert", caFile, "--key", keyFile)
		endpoint = "https" + strings.TrimPrefix(endpoint, "http")
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &cryptotls.Config{RootCAs: pool}}}
	}
	g := &group{
		name: "versitygw",
		procs: []*proc{{
			name: "versitygw", log: filepath.Join(dir, "versitygw.log"), dir: dir,
			// Keys go through the environment, never argv.
			env:  []string{"ROOT_ACCESS_KEY_ID=" + access, "ROOT_SECRET_ACCESS_KEY=" + secret},
			args: append(args, "posix", data),
		}},
		ready: httpAnswersWith(client, endpoint+"/", 0, nil),
	}
	return launch(t, g, &Server{
		CAFile: caFile,
		Name:   "s3",
		Addr:   addr,
		URI:    func(bucket, prefix string) string { return "s3://" + joinPrefix(bucket, prefix) },
		Creds: store.Credentials{
			AWSAccessKeyID: access, AWSSecretAccessKey: secret, AWSRegion: "us-east-1", AWSEndpoint: endpoint,
		},
	})
}

// Azurite's documented development account and key.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func startAzure(t testing.TB, ip string) (*Server, error) {
	bin, err := lookBin("azurite-blob")
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	port, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	g := &group{
		name: "azurite-blob",
		procs: []*proc{{
			name: "azurite-blob", log: filepath.Join(dir, "azurite.log"), dir: dir,
			// azblob v1.8 sends an API version newer than Azurite 3.37 knows (see DESIGN pitfalls).
			args: []string{bin, "--blobHost", ip, "--blobPort", fmt.Sprint(port), "--location", filepath.Join(dir, "data"),
				"--skipApiVersionCheck", "--disableTelemetry", "--loose", "--silent"},
		}},
		ready: httpAnswers(hostURL(ip, port)+"/"+azuriteAccount+"?comp=list", 0, nil),
	}
	return launch(t, g, &Server{
		Name:  "azure",
		Addr:  addr,
		URI:   func(bucket, prefix string) string { return "azure://" + joinPrefix(bucket, prefix) },
		Creds: store.Credentials{WABSAccountName: azuriteAccount, WABSAccessKey: azuriteKey, AzureEndpoint: hostURL(ip, port) + "/" + azuriteAccount},
	})
}

func startGCS(t testing.TB, ip string) (*Server, error) {
	bin, err := lookBin("fake-gcs-server")
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	port, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	g := &group{
		name: "fake-gcs-server",
		procs: []*proc{{
			name: "fake-gcs-server", log: filepath.Join(dir, "fake-gcs-server.log"), dir: dir,
			// Without -public-host and -external-url uploads "succeed" without storing anything.
			args: []string{bin, "-scheme", "http", "-host", ip, "-port", fmt.Sprint(port),
				"-public-host", addr, "-external-url", hostURL(ip, port),
				"-backend", "filesystem", "-filesystem-root", filepath.Join(dir, "data"), "-log-level", "error"},
		}},
		ready: httpAnswers(hostURL(ip, port)+"/storage/v1/b", http.StatusOK, nil),
	}
	return launch(t, g, &Server{
		Name:  "gcs",
		Addr:  addr,
		URI:   func(bucket, prefix string) string { return "gs://" + joinPrefix(bucket, prefix) },
		Creds: store.Credentials{GCSEndpoint: hostURL(ip, port)},
	})
}

func startSwift(t testing.TB, ip string) (*Server, error) {
	bins := map[string]string{}
	for _, b := range []string{"swift-proxy-server", "swift-account-server", "swift-container-server", "swift-object-server", "swift-ring-builder", "memcached"} {
		p, err := lookBin(b)
		if err != nil {
			return nil, err
		}
		bins[b] = p
	}
	dir := t.TempDir()
	etc, devices, run := filepath.Join(dir, "etc"), filepath.Join(dir, "srv"), filepath.Join(dir, "run")
	for _, d := range []string{etc, filepath.Join(devices, "sdb1"), run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	runAs := "root"
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	hash := randomString(16, anyAlnum)
	if err := writeFile(filepath.Join(etc, "swift.conf"), fmt.Sprintf(
		"[swift-hash]\nswift_hash_path_prefix = %s\nswift_hash_path_suffix = %s\n[storage-policy:0]\nname = gold\ndefault = yes\n", hash, hash)); err != nil {
		return nil, err
	}
	port, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	var procs []*proc
	mport, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	procs = append(procs, &proc{name: "memcached", log: filepath.Join(run, "memcached.log"), dir: dir,
		args: []string{bins["memcached"], "-u", runAs, "-l", "127.0.0.1", "-p", fmt.Sprint(mport), "-U", "0"}})
	for _, kind := range []string{"account", "container", "object"} {
		p, err := freePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		builder := filepath.Join(etc, kind+".builder")
		for _, args := range [][]string{
			{"create", "10", "1", "1"},
			{"add", fmt.Sprintf("r1z1-127.0.0.1:%d/sdb1", p), "1"},
			{"rebalance"},
		} {
			out, err := runCmd(bins["swift-ring-builder"], append([]string{builder}, args...)...)
			// rebalance exits 1 with a warning on a one-device ring; the ring file is what matters.
			if err != nil && args[0] != "rebalance" {
				return nil, fmt.Errorf("swift-ring-builder %s %s: %v: %s", kind, args[0], err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(etc, kind+".ring.gz")); err != nil {
			return nil, fmt.Errorf("swift-ring-builder %s produced no ring: %w", kind, err)
		}
		// No updater or replicator runs, so a container update that timed out under load would
		// never reach the listing: the long timeouts make every update synchronous.
		conf := filepath.Join(etc, kind+"-server.conf")
		if err := writeFile(conf, fmt.Sprintf(`[DEFAULT]
user = %s
devices = %s
mount_check = false
bind_ip = 127.0.0.1
bind_port = %d
workers = 1
swift_dir = %s
log_level = WARNING
conn_timeout = 10
node_timeout = 60
[pipeline:main]
pipeline = %s-server
[app:%s-server]
use = egg:swift#%s
container_update_timeout = 60
[%s-replicator]
[%s-updater]
[%s-auditor]
`, runAs, devices, p, etc, kind, kind, kind, kind, kind, kind)); err != nil {
			return nil, err
		}
		procs = append(procs, &proc{name: "swift-" + kind, log: filepath.Join(run, kind+".log"), dir: dir,
			args: []string{bins["swift-"+kind+"-server"], conf}})
	}
	// slo and bulk are in the pipeline because real deployments have them and the store relies on
	// static large objects for big uploads.
	proxyConf := filepath.Join(etc, "proxy-server.conf")
	if err := writeFile(proxyConf, fmt.Sprintf(`[DEFAULT]
user = %s
bind_ip = %s
bind_port = %d
workers = 1
swift_dir = %s
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck cache listing_formats bulk tempauth copy slo dlo proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
conn_timeout = 10
node_timeout = 60
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:%d
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
`, runAs, ip, port, etc, mport)); err != nil {
		return nil, err
	}
	procs = append(procs, &proc{name: "swift-proxy", log: filepath.Join(run, "proxy.log"), dir: dir,
		args: []string{bins["swift-proxy-server"], proxyConf}})
	authURL := hostURL(ip, port) + "/auth/v1.0"
	g := &group{
		name:  "swift",
		procs: procs,
		ready: swiftReady(authURL),
	}
	return launch(t, g, &Server{
		Name: "swift",
		Addr: net.JoinHostPort(ip, fmt.Sprint(port)),
		URI:  func(bucket, prefix string) string { return "swift://" + joinPrefix(bucket, prefix) },
		Creds: store.Credentials{
			OSAuthURL: authURL, OSUsername: "test:tester", OSPassword: "testing", OSIdentityAPIVersion: "1",
		},
	})
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}

func runCmd(bin string, args ...string) (string, error) {
	out, err := execCommand(bin, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// swiftReady authenticates, creates a container and stores an object in it, which needs
// every Swift server up (the object server can still answer 503 after the container exists).
func swiftReady(authURL string) func(context.Context) error {
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(ctx context.Context, method, url string, h http.Header) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("%s %s: %s", method, url, resp.Status)
		}
		return resp, nil
	}
	return func(ctx context.Context) error {
		resp, err := do(ctx, http.MethodGet, authURL, http.Header{"X-Storage-User": {"test:tester"}, "X-Storage-Pass": {"testing"}})
		if err != nil {
			return err
		}
		token := http.Header{"X-Auth-Token": {resp.Header.Get("X-Auth-Token")}}
		container := resp.Header.Get("X-Storage-Url") + "/storetest-ready"
		if _, err := do(ctx, http.MethodPut, container, token); err != nil {
			return err
		}
		_, err = do(ctx, http.MethodPut, container+"/probe", token)
		return err
	}
}

// selfSigned writes a certificate for ip (valid a day) and its key, and returns a pool that
// trusts it.
func selfSigned(ip, certFile, keyFile string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: ip},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		DNSNames:     []string{ip, "localhost"}, // pgBackRest matches names only, not IP addresses
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
