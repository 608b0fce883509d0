package charm

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// impostor listens on 127.0.0.1 as a PostgreSQL server would for TLS: it answers the
// client's SSLRequest with 'S' and completes a TLS handshake with cert/key, then hangs
// up. It reports whether a client finished the handshake.
func impostor(t *testing.T, certPEM, keyPEM []byte) (addr string, handshakes chan bool) {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	handshakes = make(chan bool, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req := make([]byte, 8)
			if _, err := io.ReadFull(c, req); err != nil {
				c.Close()
				continue
			}
			_, _ = c.Write([]byte{'S'})
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			err = tc.Handshake()
			if err == nil {
				// TLS 1.3: the client's verdict on the certificate arrives with its first
				// bytes (an alert if it refused it).
				_, err = tc.Read(make([]byte, 1))
			}
			handshakes <- err == nil
			tc.Close()
		}
	}()
	return ln.Addr().String(), handshakes
}

// TestMeasurementVerifiesPeer: the leader's connection to a peer (measure) refuses a
// server whose certificate another CA issued for the very address, and one the CA
// issued for another address; it talks to one the CA issued for the address. It used
// sslmode=prefer, which took any certificate.
func TestMeasurementVerifiesPeer(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("postgresql", now)
	if err != nil {
		t.Fatal(err)
	}
	mallory, _ := pki.NewCA("mallory", now)
	for _, tc := range []struct {
		what   string
		issuer *pki.CA
		hosts  []string
		ok     bool
	}{
		{"the CA's certificate for the address", ca, []string{"127.0.0.1"}, true},
		{"another CA's certificate for the address", mallory, []string{"127.0.0.1"}, false},
		{"the CA's certificate for another address", ca, []string{"10.9.9.9"}, false},
	} {
		cert, key, err := tc.issuer.Issue(tc.hosts, now)
		if err != nil {
			t.Fatal(err)
		}
		addr, handshakes := impostor(t, cert, key)
		host, port, _ := net.SplitHostPort(addr)
		cfg, err := peerConnConfig(host, "pw", ca.Pool())
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		cfg.Port = uint16(p)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = pgx.ConnectConfig(ctx, cfg)
		cancel()
		if err == nil {
			t.Fatalf("%s: connected to an impostor that hangs up", tc.what)
		}
		var ok bool
		select {
		case ok = <-handshakes:
		case <-time.After(5 * time.Second):
		}
		refusedCert := strings.Contains(err.Error(), "certificate")
		if ok != tc.ok || refusedCert == tc.ok {
			t.Errorf("%s: handshake completed %v (want %v), client error: %v", tc.what, ok, tc.ok, err)
		}
	}
	if _, err := connectPeer(context.Background(), "127.0.0.1", "pw", nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("a peer connection without a CA: %v", err)
	}
}

// TestTLSRequiredConfig: tls_required defaults to false (config.yaml); with it, an
// extra_pg_auth line admitting connections without TLS blocks, naming extra_pg_auth
// first and tls_required; hostssl lines do not.
func TestTLSRequiredConfig(t *testing.T) {
	c := defaultConfig(t)
	if c.TLSRequired {
		t.Fatal("tls_required defaults to true")
	}
	c.ExtraPgAuth = "host reports juju_database_di 192.0.2.0/24 scram-sha-256"
	if ps := c.Problems(); len(ps) != 0 {
		t.Fatalf("without tls_required: %v", ps)
	}
	c.TLSRequired = true
	ps := c.Problems()
	if len(ps) != 1 || ps[0].Option != "extra_pg_auth" || !strings.Contains(ps[0].Error(), "tls_required") ||
		!strings.HasPrefix(ps[0].Error(), "extra_pg_auth: ") {
		t.Fatalf("a host line under tls_required: %v", ps)
	}
	c.ExtraPgAuth = "hostssl reports juju_database_di 192.0.2.0/24 scram-sha-256\nhost all all 0.0.0.0/0 reject"
	if ps := c.Problems(); len(ps) != 0 {
		t.Fatalf("tightening lines under tls_required: %v", ps)
	}
}

// TestServerCertRotates: the unit's certificate is issued once for its addresses and kept
// while they stay; an address that comes (a relation's ingress address) or goes, or a
// certificate someone swapped, issues it again, naming exactly what the unit has.
func TestServerCertRotates(t *testing.T) {
	if _, err := user.Lookup("postgres"); err != nil {
		t.Skip("no postgres user on this machine: the key is given to postgres")
	}
	prev := goops.GetCommandRunner()
	goops.SetCommandRunner(quietRunner{}) // juju-log: no hook context here
	t.Cleanup(func() { goops.SetCommandRunner(prev) })
	prevCA := caFile
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	t.Cleanup(func() { caFile = prevCA })
	now := time.Now()
	ca, _ := pki.NewCA("postgresql", now)
	c := &postgres.Cluster{ConfDir: t.TempDir()}
	hosts, dbHosts := map[string]string{}, map[string]string{}
	// The decision names the hosts (plan.Desired.CertHosts) from what observe found.
	r := &applying{means: &means{ca: ca, local: &localFacts{}},
		Observed: &plan.Observed{Address: "10.1.0.5", PrivateAddress: "10.1.0.5", PublicAddress: "198.18.0.5",
			AppBag: plan.AppState{SecretID: "secret:1"}, Secret: plan.SecretFacts{Password: true, CA: ca.Fingerprint()},
			Clients: plan.ClientsFacts{Hosts: hosts}, Databases: plan.DatabasesFacts{Hosts: dbHosts}}}
	issued := func(want bool, hosts ...string) {
		t.Helper()
		_, _, changed, err := r.serverCert(c)
		if err != nil || changed != want {
			t.Fatalf("serverCert: changed %v (want %v), %v", changed, want, err)
		}
		certPEM, keyPEM, err := postgres.ReadServerCert(c)
		if err != nil || !ca.Current(certPEM, keyPEM, hosts, time.Now()) {
			t.Fatalf("the certificate does not name exactly %v: %v", hosts, err)
		}
	}
	issued(true, "10.1.0.5", "198.18.0.5")
	issued(false, "10.1.0.5", "198.18.0.5")
	dbHosts["database:3"] = "198.18.0.5" // across models: the public address, named already
	issued(false, "10.1.0.5", "198.18.0.5")
	hosts["db:4"] = "192.0.2.7" // another space
	issued(true, "10.1.0.5", "198.18.0.5", "192.0.2.7")
	delete(hosts, "db:4")
	issued(true, "10.1.0.5", "198.18.0.5")

	mallory, _ := pki.NewCA("mallory", now)
	evil, evilKey, _ := mallory.Issue([]string{"10.1.0.5", "198.18.0.5"}, now)
	if _, err := postgres.WriteServerCert(c, evil, evilKey); err != nil {
		t.Fatal(err)
	}
	issued(true, "10.1.0.5", "198.18.0.5")
	_, keyFile := postgres.ServerCertFiles(c)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the server key: %v %v", fi, err)
	}
}

// quietRunner answers every hook tool with nothing.
type quietRunner struct{}

func (quietRunner) Run(string, ...string) ([]byte, error) { return nil, nil }
