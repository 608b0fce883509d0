package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIssueVerifiesOnlyAgainstItsCA(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("postgresql", now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("mallory", now)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"10.1.0.5", "203.0.113.9", "fd00::5", "PG-0.Example"}
	cert, key, err := ca.Issue(hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.1.0.5", "203.0.113.9", "fd00::5", "pg-0.example"}
	if got := CertHosts(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", got, want)
	}
	// Each address verifies as a TLS client would (verify-full: chain and name).
	for _, h := range []string{"10.1.0.5", "203.0.113.9", "fd00::5", "pg-0.example"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: h}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "10.1.0.6"}); err == nil {
		t.Error("verified for an address it does not name")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "10.1.0.5"}); err == nil {
		t.Error("verified against another CA")
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		t.Errorf("key pair: %v", err)
	}
	if c.IsCA {
		t.Error("a server certificate must not be a CA")
	}
}

func TestCurrent(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("postgresql", now)
	other, _ := NewCA("mallory", now)
	hosts := []string{"10.1.0.5", "203.0.113.9"}
	cert, key, err := ca.Issue(hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	_, key2, _ := ca.Issue(hosts, now)
	evil, evilKey, _ := other.Issue(hosts, now)
	for _, tc := range []struct {
		what      string
		cert, key []byte
		hosts     []string
		at        time.Time
		want      bool
	}{
		{"as issued", cert, key, hosts, now, true},
		{"hosts in another order, spelt otherwise", cert, key, []string{" 203.0.113.9", "10.1.0.5", "10.1.0.5"}, now, true},
		{"an address added (a cross-model relation)", cert, key, append(hosts, "198.51.100.7"), now, false},
		{"an address gone", cert, key, hosts[:1], now, false},
		{"another CA's certificate", evil, evilKey, hosts, now, false},
		{"a key that does not match", cert, key2, hosts, now, false},
		{"close to its end", cert, key, hosts, now.Add(ServerValidity - RenewBefore + time.Hour), false},
		{"nothing", nil, nil, hosts, now, false},
	} {
		if got := ca.Current(tc.cert, tc.key, tc.hosts, tc.at); got != tc.want {
			t.Errorf("%s: Current = %v, want %v", tc.what, got, tc.want)
		}
	}
}

func TestParseCA(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("postgresql", now)
	other, _ := NewCA("mallory", now)
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() || ca.Fingerprint() == other.Fingerprint() || len(ca.Fingerprint()) != 16 {
		t.Errorf("fingerprints %q %q %q", again.Fingerprint(), ca.Fingerprint(), other.Fingerprint())
	}
	if _, err := ParseCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Error("a CA with another's key was accepted")
	}
	cert, key, _ := ca.Issue([]string{"10.0.0.1"}, now)
	if _, err := ParseCA(cert, key); err == nil {
		t.Error("a server certificate was accepted as a CA")
	}
	if _, err := ParseCA([]byte("junk"), ca.KeyPEM); err == nil {
		t.Error("junk accepted")
	}
	// What goes into the application secret fits Juju's limit per value (8 KiB).
	if len(ca.CertPEM) > 8<<10 || len(ca.KeyPEM) > 8<<10 {
		t.Errorf("CA of %d+%d bytes", len(ca.CertPEM), len(ca.KeyPEM))
	}
}

// TestHandshake: a TLS client trusting only the CA completes a handshake with a server
// presenting an issued certificate, by address, and refuses one with another CA's.
func TestHandshake(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("postgresql", now)
	other, _ := NewCA("mallory", now)
	for _, tc := range []struct {
		issuer *CA
		ok     bool
	}{{ca, true}, {other, false}} {
		cert, key, _ := tc.issuer.Issue([]string{"127.0.0.1"}, now)
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		c, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
		}
		ln.Close()
		if (err == nil) != tc.ok {
			t.Errorf("server with a certificate of %s: handshake error %v", tc.issuer.cert.Subject.CommonName, err)
		}
	}
}

// Juju secret content keys: ^([a-z](?:-?[a-z0-9]){2,})$.
func TestSecretKeys(t *testing.T) {
	re := regexp.MustCompile(`^([a-z](?:-?[a-z0-9]){2,})$`)
	for _, k := range []string{SecretCACert, SecretCAKey} {
		if !re.MatchString(k) {
			t.Errorf("secret key %q is not one Juju accepts", k)
		}
	}
}
