package charm

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/pki"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// TLS that cannot be downgraded. The leader makes a CA (internal/pki) when it creates the
// application's secret (or, for an application deployed before, adds it to the secret)
// and names it by fingerprint in the peer application bag, which wakes every unit. The
// CA's key lives only in the secret and in memory: each unit issues its own server
// certificate, naming every address peers and clients reach it at (its peer address, its
// private and public addresses, and its ingress address on each client relation, the
// cross-model one included), and issues it again when that set changes. Replication
// (primary_conninfo, pg_basebackup, pg_rewind) and the leader's measurements verify the
// server against the CA on its peer address (sslmode=verify-full), and pg_hba admits
// peers only over TLS.

// caFile is where the unit keeps the CA's certificate (tests point it elsewhere).
var caFile = postgres.CAFile

// observeTLS reads the unit's addresses besides those of its bindings, which the server
// certificate names too.
func observeTLS(f *plan.Observed) {
	// A unit without a public address is no fault: the certificate names what there is.
	if out, err := hookTool("unit-get", "private-address"); err == nil {
		f.PrivateAddress = strings.TrimSpace(string(out))
	}
	if out, err := hookTool("unit-get", "public-address"); err == nil {
		f.PublicAddress = strings.TrimSpace(string(out))
	}
}

// newAppSecret is the content of a new application secret: the replication password and
// a new CA.
func newAppSecret(app, password string) (map[string]string, *pki.CA, error) {
	ca, err := pki.NewCA(app, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return map[string]string{"replication": password, pki.SecretCACert: string(ca.CertPEM), pki.SecretCAKey: string(ca.KeyPEM)}, ca, nil
}

// serverCert keeps the server's certificate one the CA issued for the decided names
// (plan.Desired.CertHosts), issuing it
// again when it is not (first start, an address came or went, someone swapped the
// files). It returns the files for ssl_cert_file and ssl_key_file and whether they
// changed (a reload applies them).
func (r *applying) serverCert(c *postgres.Cluster) (certFile, keyFile string, changed bool, err error) {
	certFile, keyFile = postgres.ServerCertFiles(c)
	if r.ca == nil {
		return "", "", false, errors.New("server certificate: no CA yet")
	}
	hosts := pki.NormaliseHosts(r.decide().CertHosts)
	if len(hosts) == 0 {
		return "", "", false, errors.New("server certificate: the unit has no address to name")
	}
	// The CA's certificate too, for replication and for operators verifying the server.
	if _, err := postgres.WriteCAFile(caFile, r.ca.CertPEM); err != nil {
		return "", "", false, err
	}
	now := time.Now()
	certPEM, keyPEM, err := postgres.ReadServerCert(c)
	if err != nil {
		return "", "", false, err
	}
	if r.ca.Current(certPEM, keyPEM, hosts, now) {
		return certFile, keyFile, false, nil
	}
	if certPEM, keyPEM, err = r.ca.Issue(hosts, now); err != nil {
		return "", "", false, err
	}
	if changed, err = postgres.WriteServerCert(c, certPEM, keyPEM); err != nil {
		return "", "", false, err
	}
	goops.LogInfof("issued the server certificate for %s", strings.Join(hosts, ", "))
	return certFile, keyFile, changed, nil
}

// verifiedUpstream adds what verifies the upstream to a replication connection: the CA's
// certificate in CAFile (written here first, so that a clone, before any cluster exists,
// finds it) and verify-full.
func (r *applying) verifiedUpstream(up postgres.Upstream) (postgres.Upstream, error) {
	if r.ca == nil {
		return up, errors.New("replication: no CA yet")
	}
	if _, err := postgres.WriteCAFile(caFile, r.ca.CertPEM); err != nil {
		return up, err
	}
	up.SSLMode, up.SSLRootCert = "verify-full", caFile
	return up, nil
}

// peerConnConfig is a connection to a peer's server as the replication user, verified
// against the CA on its address.
func peerConnConfig(address, password string, roots *x509.CertPool) (*pgx.ConnConfig, error) {
	return postgres.PeerConfig(address, replicationUser, password, roots, 5)
}

// connectPeer opens a verified connection to a peer's server.
func connectPeer(ctx context.Context, address, password string, ca *pki.CA) (*pgx.Conn, error) {
	if ca == nil {
		return nil, errors.New("no CA yet")
	}
	cfg, err := peerConnConfig(address, password, ca.Pool())
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// tlsSecret keeps the database relations' tls secret holding content (leader).
func (r *applying) tlsSecret(content map[string]string) (string, error) {
	if id := r.AppBag.TLSSecret; id != "" {
		have, err := readOwnSecret(id)
		if err == nil && equalBags(have, content) {
			return id, nil
		}
		if err == nil {
			return id, secretSetContent(id, content)
		}
		if !strings.Contains(err.Error(), "not found") {
			return "", err
		}
	}
	id, err := secretAddDescribed("TLS of the database relations: the CA of "+r.App, content)
	if err != nil {
		return "", err
	}
	app := r.AppBag
	app.TLSSecret = id
	return id, r.writeApp(app)
}
