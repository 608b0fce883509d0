package plan

import (
	"fmt"
	"strings"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/internal/pgsql"
)

// tls_required: clients must use TLS. The charm's rules for clients (the db, db-admin and
// database relations, admin_addresses) become hostssl, connection strings and URIs carry
// sslmode=require, and extra_pg_auth may only tighten: a line that would admit a
// connection without TLS is refused.

// ClientTLS makes the client rules hostssl when TLS is required.
func ClientTLS(rules []hba.Rule, required bool) []hba.Rule {
	if !required {
		return rules
	}
	out := make([]hba.Rule, 0, len(rules))
	for _, r := range rules {
		if r.Raw == "" && r.Type == "host" {
			r.Type = "hostssl"
		}
		out = append(out, r)
	}
	return out
}

// SSLMode is what clients are told to connect with: require when TLS is required, else
// nothing (libpq's default, prefer, which uses TLS when the server offers it, and it
// always does).
func SSLMode(required bool) string {
	if required {
		return "require"
	}
	return ""
}

// CheckTLSOnlyAuth refuses extra_pg_auth lines that would let a client in without TLS
// while tls_required is set; the message names both options and the lines.
func CheckTLSOnlyAuth(extraPgAuth string, required bool) error {
	if !required {
		return nil
	}
	lines := hba.NonTLSLines(extraPgAuth)
	if len(lines) == 0 {
		return nil
	}
	all := strings.Split(extraPgAuth, "\n")
	var named []string
	for _, n := range lines {
		named = append(named, fmt.Sprintf("line %d (%s)", n, strings.TrimSpace(all[n-1])))
	}
	return fmt.Errorf("%s admit%s connections without TLS, which tls_required=true forbids; use hostssl (or reject) lines, or set tls_required=false",
		strings.Join(named, ", "), map[bool]string{true: "s", false: ""}[len(lines) == 1])
}

// TLSOffer adds TLS to what the leader answers on a database relation: the server always
// speaks TLS with a certificate of the application's CA (tls=True, tls-ca), and with TLS
// required the URIs say sslmode=require.
func TLSOffer(o pgclient.Offer, required bool, caPEM string) pgclient.Offer {
	o.TLS, o.TLSCA = "True", caPEM
	mode := SSLMode(required)
	o.URIs, o.ReadOnlyURIs = pgclient.WithSSLMode(o.URIs, mode), pgclient.WithSSLMode(o.ReadOnlyURIs, mode)
	return o
}

func withSSLMode(c pgsql.ConnString, mode string) pgsql.ConnString {
	if mode != "" {
		c["sslmode"] = mode
	}
	return c
}
