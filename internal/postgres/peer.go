package postgres

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PeerConfig is a connection to a peer unit's server (port 5432, database postgres) as
// user, verified against roots on its address: sslmode=verify-full, never prefer, which
// takes any certificate; no fallback to a plain connection. The password is set on the
// config, never in a connection string that could be logged.
func PeerConfig(address, user, password string, roots *x509.CertPool, connectTimeout int) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=5432 dbname=postgres user=%s sslmode=verify-full connect_timeout=%d",
		address, user, connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("peer connection to %s: %w", address, err)
	}
	if cfg.TLSConfig == nil {
		return nil, errors.New("peer connection without TLS")
	}
	cfg.TLSConfig.RootCAs = roots
	cfg.Fallbacks = nil
	cfg.Password = password
	return cfg, nil
}
