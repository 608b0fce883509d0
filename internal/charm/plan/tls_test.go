package plan

import (
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/hba"
)

func TestStatusWaitsForTheCA(t *testing.T) {
	want := Status{StatusWaiting, "Waiting for the leader to create the certificate authority"}
	if got := UnitStatus(StatusFacts{NoCA: true}); got != want {
		t.Errorf("no CA yet: %+v", got)
	}
	if got := UnitStatus(StatusFacts{NoSecret: true, NoCA: true}); got.Message != msgNoSecret {
		t.Errorf("no secret and no CA: %+v", got)
	}
}

func TestClientTLS(t *testing.T) {
	rules := []hba.Rule{
		{Type: "host", Database: "app", User: "juju_app", Address: "10.0.0.5/32", Method: "scram-sha-256"},
		{Type: "hostssl", Database: "all", User: "all", Address: "10.0.0.6/32", Method: "scram-sha-256"},
		{Raw: "host all all 10.0.0.0/8 scram-sha-256"},
	}
	if got := ClientTLS(rules, false); got[0].Type != "host" {
		t.Errorf("not required: %+v", got)
	}
	got := ClientTLS(rules, true)
	if got[0].Type != "hostssl" || got[1].Type != "hostssl" || got[2].Raw == "" || rules[0].Type != "host" {
		t.Errorf("required: %+v (input %+v)", got, rules)
	}
	if SSLMode(true) != "require" || SSLMode(false) != "" {
		t.Error("SSLMode")
	}
}

// TestCheckTLSOnlyAuth: under tls_required, extra_pg_auth may tighten (hostssl lines,
// reject lines of any type, local lines) but never admit a connection in the clear.
func TestCheckTLSOnlyAuth(t *testing.T) {
	for _, tc := range []struct {
		auth    string
		refused string // the lines named, "" for accepted
	}{
		{"hostssl all all 10.0.0.0/8 scram-sha-256", ""},
		{"hostssl reports juju_database_di 192.0.2.0/24 scram-sha-256 clientcert=verify-full", ""},
		{"host all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject", ""},
		{"host all all 192.0.2.1 255.255.255.255 reject", ""},
		{"local all all peer", ""},
		{"# a comment\n\n", ""},
		{"host all all 10.0.0.0/8 scram-sha-256", "line 1"},
		{"hostssl all all 10.0.0.0/8 scram-sha-256\nhostnossl app app 10.1.0.0/16 md5", "line 2"},
		{"hostgssenc all all 10.0.0.0/8 gss", "line 1"},
		{"host all all 192.0.2.1 255.255.255.255 scram-sha-256", "line 1"},
		{"host all all reject scram-sha-256", "line 1"}, // a host named reject
		{"host all all 10.0.0.0/8 trust\nhost x y 10.2.0.0/16 md5", "line 1 (host all all 10.0.0.0/8 trust), line 2"},
	} {
		err := CheckTLSOnlyAuth(tc.auth, true)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%q refused: %v", tc.auth, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "tls_required")):
			t.Errorf("%q: %v, want a refusal naming %s and tls_required", tc.auth, err, tc.refused)
		}
		if err := CheckTLSOnlyAuth(tc.auth, false); err != nil {
			t.Errorf("%q without tls_required: %v", tc.auth, err)
		}
	}
}

// TestTLSInAnswers: with TLS required, the db relations' connection strings and the
// database relation's URIs say sslmode=require; the database relation always gets tls
// and tls-ca, in the tls secret when the client asked for them as secrets.
func TestTLSInAnswers(t *testing.T) {
	c := DecideClient(ClientRelation{Endpoint: "db", ID: "db:3", App: "a",
		Units: map[string]map[string]string{"a/0": {"ingress-address": "10.0.0.1", "database": "a"}}})
	s := Server{State: "master", Host: "10.0.0.9", Port: "5432", Version: "15", Master: "10.0.0.9", Standbys: []string{"10.0.0.8"}}
	if d := Publish(c, s, "pw"); strings.Contains(d["master"], "sslmode") || strings.Contains(d["standbys"], "sslmode") {
		t.Errorf("not required: %q %q", d["master"], d["standbys"])
	}
	s.SSLMode = SSLMode(true)
	if d := Publish(c, s, "pw"); !strings.Contains(d["master"], "sslmode=require") || !strings.Contains(d["standbys"], "sslmode=require") {
		t.Errorf("required: %q %q", d["master"], d["standbys"])
	}

	dc := DecideDatabase(DatabaseRelation{ID: "database:4", App: "cli", AppBag: map[string]string{"database": "cli",
		"requested-secrets": `["username", "password", "tls", "tls-ca", "uris"]`},
		Units: map[string]map[string]string{"cli/0": {"ingress-address": "10.2.0.1"}}}, DatabaseOptions{})
	h := Hosts{Primary: "10.1.0.2", Standbys: []string{"10.1.0.3"}, Provisioned: true}
	for _, required := range []bool{false, true} {
		o := TLSOffer(dc.Offer(h, "5432", "15.8", "pw"), required, "CA PEM")
		if required != strings.Contains(o.URIs, "sslmode=require") || required != strings.Contains(o.ReadOnlyURIs, "sslmode=require") ||
			!strings.Contains(o.URIs, "target_session_attrs=read-write") {
			t.Errorf("required %v: uris %q %q", required, o.URIs, o.ReadOnlyURIs)
		}
		bag, secret := o.SplitTLS(dc.Request)
		if bag["tls"] != "" || bag["tls-ca"] != "" || secret["tls"] != "True" || secret["tls-ca"] != "CA PEM" {
			t.Errorf("requested as secrets: bag %v, secret %v", bag, secret)
		}
	}
	plain := DecideDatabase(DatabaseRelation{ID: "database:5", App: "old", AppBag: map[string]string{"database": "old"},
		Units: map[string]map[string]string{"old/0": {"ingress-address": "10.2.0.2"}}}, DatabaseOptions{})
	bag, secret := TLSOffer(plain.Offer(h, "5432", "15.8", "pw"), true, "CA PEM").SplitTLS(plain.Request)
	if bag["tls"] != "True" || bag["tls-ca"] != "CA PEM" || len(secret) != 0 {
		t.Errorf("a client without secrets: bag %v, secret %v", bag, secret)
	}
}
