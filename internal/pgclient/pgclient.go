// Package pgclient is the postgresql_client relation protocol (the `database` endpoint,
// spoken by Canonical's data_interfaces library) as data: the keys each side sets, how
// the requirer's request is read, which fields go into the bag and which into the
// credentials secret, user names and libpq URIs. The charm (provider) and the Go test
// client (requirer) both use it, so they cannot drift apart.
//
// The protocol as data_interfaces (LIBPATCH 46) speaks it: the requirer's leader sets
// `database`, `requested-secrets` (a JSON list), `extra-user-roles` (only when not
// empty) and sometimes `external-node-connectivity` and `provided-secrets` in its
// application bag. The provider's leader answers in its application bag with `database`,
// `endpoints`, `read-only-endpoints`, `version` and `secret-user`: the URI of a secret
// holding `username`, `password`, `uris` and `read-only-uris`. Every field named in
// `requested-secrets` goes only into a secret; plain bag fields are for a client that
// sends no `requested-secrets` (one without Juju secrets).
package pgclient

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Endpoint is the provider's relation endpoint.
const Endpoint = "database"

// Requirer keys (the client's application bag).
const (
	KeyDatabase                 = "database"
	KeyRequestedSecrets         = "requested-secrets"
	KeyProvidedSecrets          = "provided-secrets"
	KeyExtraUserRoles           = "extra-user-roles"
	KeyExternalNodeConnectivity = "external-node-connectivity"
)

// Provider keys (the server's application bag) and the fields of the user secret.
const (
	KeyEndpoints         = "endpoints"
	KeyReadOnlyEndpoints = "read-only-endpoints"
	KeyVersion           = "version"
	KeySecretUser        = "secret-user"
	KeySecretTLS         = "secret-tls"

	FieldUsername     = "username"
	FieldPassword     = "password"
	FieldURIs         = "uris"
	FieldReadOnlyURIs = "read-only-uris"
	FieldTLS          = "tls"
	FieldTLSCA        = "tls-ca"
)

// userFields are the fields data_interfaces groups into the `user` secret.
var userFields = []string{FieldUsername, FieldPassword, FieldURIs, FieldReadOnlyURIs}

// DefaultRequestedSecrets is what data_interfaces' requirer asks for.
var DefaultRequestedSecrets = []string{FieldUsername, FieldPassword, FieldTLS, FieldTLSCA, FieldURIs, FieldReadOnlyURIs}

// Request is what a client application asks for.
type Request struct {
	Database string
	// RequestedSecrets lists the fields the client wants in secrets; SecretsKnown says
	// whether the client sent the key at all (without it, it has no Juju secrets).
	RequestedSecrets []string
	SecretsKnown     bool
	ExtraUserRoles   []string // as sent, in order, without blanks or duplicates
	// ExternalNodeConnectivity is recorded, never acted upon: pg_hba follows the
	// relation's egress subnets only.
	ExternalNodeConnectivity bool
}

// ParseRequest reads the client application's bag. A malformed requested-secrets is an
// error the provider reports on the relation; the unit bag's `data` key (the library's
// copy of the provider's bag) is not protocol and is never read.
func ParseRequest(bag map[string]string) (Request, error) {
	r := Request{
		Database:                 strings.TrimSpace(bag[KeyDatabase]),
		ExtraUserRoles:           splitRoles(bag[KeyExtraUserRoles]),
		ExternalNodeConnectivity: strings.EqualFold(strings.TrimSpace(bag[KeyExternalNodeConnectivity]), "true"),
	}
	if raw, ok := bag[KeyRequestedSecrets]; ok && strings.TrimSpace(raw) != "" {
		r.SecretsKnown = true
		var list []string
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			return r, fmt.Errorf("%s is not a JSON list of strings: %q", KeyRequestedSecrets, raw)
		}
		seen := map[string]bool{}
		for _, f := range list {
			if f = strings.TrimSpace(f); f != "" && !seen[f] {
				seen[f] = true
				r.RequestedSecrets = append(r.RequestedSecrets, f)
			}
		}
	}
	return r, nil
}

func splitRoles(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Data renders a request as data_interfaces' requirer writes its application bag:
// requested-secrets always (JSON, as Python's json.dumps spells it), extra-user-roles
// only when not empty.
func (r Request) Data() map[string]string {
	d := map[string]string{KeyDatabase: r.Database}
	if r.SecretsKnown {
		d[KeyRequestedSecrets] = jsonList(r.RequestedSecrets)
	}
	if len(r.ExtraUserRoles) > 0 {
		d[KeyExtraUserRoles] = strings.Join(r.ExtraUserRoles, ",")
	}
	if r.ExternalNodeConnectivity {
		d[KeyExternalNodeConnectivity] = "true"
	}
	return d
}

// jsonList renders ["a", "b"] with Python's default separators.
func jsonList(list []string) string {
	parts := make([]string, 0, len(list))
	for _, s := range list {
		b, _ := json.Marshal(s)
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// InSecret says whether a field travels in a secret for this client.
func (r Request) InSecret(field string) bool {
	for _, f := range r.RequestedSecrets {
		if f == field {
			return true
		}
	}
	return false
}

// UserName is the role a client application gets on the database relation:
// juju_database_<app>. Juju application names have no underscore, so it never equals
// a pgsql user (juju_<app>, jujuadmin_<app>). Keyed by the application (the SAAS name
// across models), so a client related again under the same name owns its data again.
// Names past PostgreSQL's 63 bytes keep 31 bytes and add the md5 of the whole name.
func UserName(remoteApp string) string {
	app, _, _ := strings.Cut(remoteApp, "/")
	name := UserPrefix + app
	if len(name) > 63 {
		sum := md5.Sum([]byte(name))
		name = name[:31] + hex.EncodeToString(sum[:])
	}
	return name
}

// UserPrefix begins every database relation user's name.
const UserPrefix = "juju_database_"

// Offer is what the provider answers on one relation.
type Offer struct {
	Database          string
	Endpoints         []string // host:port of the primary
	ReadOnlyEndpoints []string // host:port of the standbys
	Version           string
	Username          string
	Password          string
	URIs              string
	ReadOnlyURIs      string
	// TLS ("True" or "False", as data_interfaces spells it) says whether the server
	// speaks TLS; TLSCA is the PEM certificate of the CA its certificates come from.
	TLS, TLSCA string
}

// tlsFields are the fields data_interfaces groups into the `tls` secret (secret-tls).
var tlsFields = []string{FieldTLS, FieldTLSCA}

// SplitTLS divides the offer's TLS fields between the application bag and the content
// of the tls secret, whose URI the caller adds as secret-tls: a field the client lists
// in requested-secrets goes into the secret only, any other into the bag (neither is a
// credential). An empty secret means none is needed; empty values are deletions.
func (o Offer) SplitTLS(r Request) (bag, secret map[string]string) {
	fields := map[string]string{FieldTLS: o.TLS, FieldTLSCA: o.TLSCA}
	bag, secret = map[string]string{}, map[string]string{}
	for _, f := range tlsFields {
		if r.SecretsKnown && r.InSecret(f) {
			if fields[f] != "" {
				secret[f] = fields[f]
			}
			bag[f] = ""
			continue
		}
		bag[f] = fields[f]
	}
	return bag, secret
}

// WithSSLMode sets sslmode in a libpq URI's query ("" leaves it as it is).
func WithSSLMode(uri, mode string) string {
	if uri == "" || mode == "" {
		return uri
	}
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	q.Set("sslmode", mode)
	u.RawQuery = q.Encode()
	return u.String()
}

// Split divides an offer into the application bag and the content of the user secret
// for a client: fields it requested as secrets go into the secret only; a client that
// sent no requested-secrets gets them in the bag. The bag's secret-user is the caller's
// to add (the URI exists only once the secret does). An empty secret means none is
// needed. Empty values are sent as deletions ("").
func (o Offer) Split(r Request) (bag, secret map[string]string) {
	bag = map[string]string{
		KeyDatabase:          o.Database,
		KeyEndpoints:         strings.Join(o.Endpoints, ","),
		KeyReadOnlyEndpoints: strings.Join(o.ReadOnlyEndpoints, ","),
		KeyVersion:           o.Version,
		KeySecretUser:        "",
	}
	fields := map[string]string{FieldUsername: o.Username, FieldPassword: o.Password,
		FieldURIs: o.URIs, FieldReadOnlyURIs: o.ReadOnlyURIs}
	secret = map[string]string{}
	for _, f := range userFields {
		switch {
		case r.SecretsKnown && r.InSecret(f):
			if fields[f] != "" {
				secret[f] = fields[f]
			}
			bag[f] = ""
		case r.SecretsKnown:
			// Asked for secrets, but not this field: credentials never go in the bag,
			// so a field holding the password (a URI) is not sent at all.
			bag[f] = ""
		default:
			bag[f] = fields[f]
		}
	}
	return bag, secret
}

// URI is a libpq connection URI for several hosts (host:port each), with the user
// and password percent-encoded and the session attributes libpq chooses hosts by
// (read-write finds the primary, prefer-standby a standby when there is one).
func URI(user, password string, hosts []string, database, targetSessionAttrs string) string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(user, password), Host: strings.Join(hosts, ","),
		Path: "/" + database}
	if targetSessionAttrs != "" {
		u.RawQuery = "target_session_attrs=" + url.QueryEscape(targetSessionAttrs)
	}
	return u.String()
}

// Endpoints renders host:port for each host, sorted.
func Endpoints(hosts []string, port string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			h = "[" + h + "]" // IPv6
		}
		out = append(out, h+":"+port)
	}
	sort.Strings(out)
	return out
}

// SplitEndpoints reads a comma-separated endpoints value.
func SplitEndpoints(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Credentials is what a client learns: from the secret, or from the bag for a client
// without secrets.
type Credentials struct {
	Username     string `json:"username"`
	Password     string `json:"password"`
	URIs         string `json:"uris,omitempty"`
	ReadOnlyURIs string `json:"read-only-uris,omitempty"`
}

// ReadCredentials reads the fields from secret content (or a bag).
func ReadCredentials(m map[string]string) Credentials {
	return Credentials{Username: m[FieldUsername], Password: m[FieldPassword], URIs: m[FieldURIs], ReadOnlyURIs: m[FieldReadOnlyURIs]}
}

// Complete says whether the credentials can be used.
func (c Credentials) Complete() bool { return c.Username != "" && c.Password != "" }
