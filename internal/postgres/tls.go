package postgres

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/safefs"
)

// Certificate and key file names in the cluster's configuration directory.
const (
	CertFileName = "juju-server.crt"
	KeyFileName  = "juju-server.key"
)

// certRenewBefore renews a self-signed certificate this long before it
// expires.
const certRenewBefore = 30 * 24 * time.Hour

// EnsureSelfSignedCert keeps a self-signed server certificate for hosts (the
// unit's addresses and names) in the cluster's configuration directory: the
// key 0600 and the certificate 0644, both owned by postgres. The existing
// pair is kept while it is valid, matches the key and names exactly the same
// hosts; otherwise a new ECDSA P-256 pair replaces it. It returns the paths
// to put in ssl_cert_file and ssl_key_file, and whether the files changed (a
// reload makes the server use them).
func EnsureSelfSignedCert(c *Cluster, hosts []string) (certFile, keyFile string, changed bool, err error) {
	certFile = filepath.Join(c.ConfDir, CertFileName)
	keyFile = filepath.Join(c.ConfDir, KeyFileName)
	want := normaliseHosts(hosts)
	if len(want) == 0 {
		return "", "", false, errors.New("self-signed certificate: no host names or addresses")
	}
	if certMatches(certFile, keyFile, want) {
		return certFile, keyFile, false, nil
	}
	certPEM, keyPEM, err := selfSignedCert(want, time.Now())
	if err != nil {
		return "", "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	// Key first: a certificate never points at a key it does not match for
	// longer than the moment between the two renames.
	if _, err := writeFileAtomic(keyFile, keyPEM, 0o600, true); err != nil {
		return "", "", false, err
	}
	if _, err := writeFileAtomic(certFile, certPEM, 0o644, true); err != nil {
		return "", "", false, err
	}
	return certFile, keyFile, true, nil
}

func normaliseHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(h)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

func certHosts(cert *x509.Certificate) []string {
	var hs []string
	for _, ip := range cert.IPAddresses {
		hs = append(hs, ip.String())
	}
	hs = append(hs, cert.DNSNames...)
	return normaliseHosts(hs)
}

func certMatches(certFile, keyFile string, want []string) bool {
	certPEM, err := safefs.ReadFile(certFile, safefs.AnyOwner)
	if err != nil {
		return false
	}
	keyPEM, err := safefs.ReadFile(keyFile, safefs.AnyOwner)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	if time.Now().Add(certRenewBefore).After(cert.NotAfter) {
		return false
	}
	if !slices.Equal(certHosts(cert), want) {
		return false
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return false
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return false
	}
	signer, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return false
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(&signer.PublicKey)
}

func selfSignedCert(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Juju PostgreSQL charm"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
