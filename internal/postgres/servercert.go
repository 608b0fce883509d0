package postgres

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pgcharm/postgresql/internal/safefs"
)

// CAFile is where the certificate of the CA the application's servers are issued from
// is kept (root's, 0644): replication connections (primary_conninfo, pg_basebackup,
// pg_rewind, all run as postgres) name it as sslrootcert. It lives outside any
// cluster's directories, so that a clone, which runs before the cluster exists, has it.
const CAFile = "/etc/postgresql-common/juju-charm-ca.crt"

// WriteCAFile keeps certPEM at path (CAFile; root's, 0644) and says whether it changed.
func WriteCAFile(path string, certPEM []byte) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("CA certificate: %w", err)
	}
	ch, err := writeFileAtomic(path, certPEM, 0o644, false)
	if err != nil {
		return false, fmt.Errorf("CA certificate: %w", err)
	}
	return ch, nil
}

// ServerCertFiles are the server's certificate and key in the cluster's configuration
// directory, for ssl_cert_file and ssl_key_file.
func ServerCertFiles(c *Cluster) (certFile, keyFile string) {
	return filepath.Join(c.ConfDir, CertFileName), filepath.Join(c.ConfDir, KeyFileName)
}

// ReadServerCert reads the server's certificate and key, never through a link; missing
// files read as empty.
func ReadServerCert(c *Cluster) (certPEM, keyPEM []byte, err error) {
	certFile, keyFile := ServerCertFiles(c)
	if certPEM, err = safefs.ReadFile(certFile, safefs.AnyOwner); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	if keyPEM, err = safefs.ReadFile(keyFile, safefs.AnyOwner); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("server key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// WriteServerCert installs a server certificate and its key: the key 0600 and the
// certificate 0644, both postgres's (the server reads them; a reload makes it use
// them). The key is written first, so that the certificate never names a key it does
// not match for longer than the moment between the two renames.
func WriteServerCert(c *Cluster, certPEM, keyPEM []byte) (changed bool, err error) {
	certFile, keyFile := ServerCertFiles(c)
	kc, err := writeFileAtomic(keyFile, keyPEM, 0o600, true)
	if err != nil {
		return false, fmt.Errorf("server key: %w", err)
	}
	cc, err := writeFileAtomic(certFile, certPEM, 0o644, true)
	if err != nil {
		return false, fmt.Errorf("server certificate: %w", err)
	}
	return kc || cc, nil
}
