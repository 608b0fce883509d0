package storetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// TestServers starts every installed server, writes and reads back an object through the store
// package, and checks that Stop makes the server unreachable and Start brings the data back.
func TestServers(t *testing.T) {
	ctx := context.Background()
	for _, srv := range All(t, "127.0.0.1") {
		t.Run(srv.Name, func(t *testing.T) {
			t.Logf("%s started in %s at %s", srv.Name, srv.StartupTime, srv.Addr)
			s, err := store.Open(ctx, srv.URI("bucket", "pre/fix"), srv.Creds)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, "hello", strings.NewReader("world")); err != nil {
				t.Fatal(err)
			}
			if srv.Name == "file" {
				return
			}
			srv.Stop()
			// Bounded: the clients retry a refused connection with backoff.
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = s.Stat(sctx, "hello")
			cancel()
			if err == nil {
				t.Fatalf("stat succeeded on a stopped %s", srv.Name)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			r, err := s.Get(ctx, "hello")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var b bytes.Buffer
			if _, err := b.ReadFrom(r); err != nil || b.String() != "world" {
				t.Fatalf("read back %q, %v after restart", b.String(), err)
			}
		})
	}
}

// TestS3TLS: the HTTPS versitygw answers a client that trusts Server.CAFile and is refused by
// one that does not.
func TestS3TLS(t *testing.T) {
	srv := S3TLS(t, "127.0.0.1")
	if !strings.HasPrefix(srv.Creds.AWSEndpoint, "https://") {
		t.Fatalf("endpoint %q is not https", srv.Creds.AWSEndpoint)
	}
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CAFile holds no certificate")
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := trusting.Get(srv.Creds.AWSEndpoint + "/")
	if err != nil {
		t.Fatalf("client trusting CAFile: %v", err)
	}
	resp.Body.Close()
	if _, err := http.Get(srv.Creds.AWSEndpoint + "/"); err == nil {
		t.Fatal("a client without CAFile was not refused")
	}
}
