package pgclient

import (
	"net/url"
	"strings"
	"testing"
)

// A bag as data-integrator (data_interfaces LIBPATCH 46) writes it.
var integratorBag = map[string]string{
	"database":                   "mydb",
	"requested-secrets":          `["username", "password", "tls", "tls-ca", "uris", "read-only-uris"]`,
	"provided-secrets":           `["mtls-cert"]`,
	"external-node-connectivity": "true",
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest(integratorBag)
	if err != nil {
		t.Fatal(err)
	}
	if r.Database != "mydb" || !r.SecretsKnown || !r.ExternalNodeConnectivity || len(r.ExtraUserRoles) != 0 {
		t.Errorf("%+v", r)
	}
	if strings.Join(r.RequestedSecrets, ",") != "username,password,tls,tls-ca,uris,read-only-uris" {
		t.Errorf("requested %v", r.RequestedSecrets)
	}
	r, err = ParseRequest(map[string]string{"database": " d ", "extra-user-roles": "b, a,,b", "data": `{"x": "y"}`})
	if err != nil || r.Database != "d" || strings.Join(r.ExtraUserRoles, ",") != "b,a" || r.SecretsKnown {
		t.Errorf("%+v %v", r, err)
	}
	if _, err := ParseRequest(map[string]string{"database": "d", "requested-secrets": "username"}); err == nil ||
		!strings.Contains(err.Error(), "not a JSON list") {
		t.Errorf("malformed requested-secrets: %v", err)
	}
}

func TestRequestData(t *testing.T) {
	r := Request{Database: "app", RequestedSecrets: DefaultRequestedSecrets, SecretsKnown: true}
	d := r.Data()
	if d["requested-secrets"] != integratorBag["requested-secrets"] {
		t.Errorf("requested-secrets %s", d["requested-secrets"])
	}
	if _, ok := d["extra-user-roles"]; ok {
		t.Error("extra-user-roles only when not empty")
	}
	back, err := ParseRequest(d)
	if err != nil || back.Database != "app" || len(back.RequestedSecrets) != 6 {
		t.Errorf("round trip %+v %v", back, err)
	}
}

func TestSplit(t *testing.T) {
	o := Offer{Database: "mydb", Endpoints: []string{"10.0.0.2:5432"}, ReadOnlyEndpoints: []string{"10.0.0.3:5432", "10.0.0.4:5432"},
		Version: "15.8", Username: "u", Password: "pw", URIs: "postgresql://u:pw@h/mydb", ReadOnlyURIs: "postgresql://u:pw@h2/mydb"}
	r, _ := ParseRequest(integratorBag)
	bag, secret := o.Split(r)
	for _, f := range []string{"username", "password", "uris", "read-only-uris"} {
		if bag[f] != "" {
			t.Errorf("%s in the bag: %q", f, bag[f])
		}
		if secret[f] == "" {
			t.Errorf("%s missing from the secret", f)
		}
	}
	if bag["endpoints"] != "10.0.0.2:5432" || bag["read-only-endpoints"] != "10.0.0.3:5432,10.0.0.4:5432" || bag["version"] != "15.8" {
		t.Errorf("bag %v", bag)
	}
	for k, v := range bag {
		if strings.Contains(v, "pw") {
			t.Errorf("the password leaks into the bag through %s", k)
		}
	}
	// Only username and password requested: the URIs (they hold the password) go nowhere.
	bag, secret = o.Split(Request{Database: "mydb", SecretsKnown: true, RequestedSecrets: []string{"username", "password"}})
	if secret["uris"] != "" || bag["uris"] != "" || secret["password"] != "pw" {
		t.Errorf("partial request: bag %v secret %v", bag, secret)
	}
	// A client without secrets gets the plain fields.
	bag, secret = o.Split(Request{Database: "mydb"})
	if len(secret) != 0 || bag["username"] != "u" || bag["password"] != "pw" || bag["uris"] == "" {
		t.Errorf("no secrets: bag %v secret %v", bag, secret)
	}
}

func TestUserName(t *testing.T) {
	if got := UserName("data-integrator"); got != "juju_database_data-integrator" {
		t.Errorf("%q", got)
	}
	long := strings.Repeat("a", 70)
	if got := UserName(long); len(got) != 63 || got == UserName(long+"b") || !strings.HasPrefix(got, UserPrefix) {
		t.Errorf("long %q", got)
	}
}

func TestURI(t *testing.T) {
	u := URI("juju_database_x", "p@ss/w:rd", Endpoints([]string{"10.0.0.3", "10.0.0.2"}, "5432"), "my db", "read-write")
	if !strings.HasPrefix(u, "postgresql://juju_database_x:p%40ss%2Fw%3Ard@10.0.0.2:5432,10.0.0.3:5432/my%20db?target_session_attrs=read-write") {
		t.Errorf("uri %s", u)
	}
	if _, err := url.Parse(u); err != nil {
		t.Error(err)
	}
	if e := Endpoints([]string{"fd00::1"}, "5432"); e[0] != "[fd00::1]:5432" {
		t.Errorf("ipv6 %v", e)
	}
	if got := SplitEndpoints(" a:1, ,b:2"); strings.Join(got, "|") != "a:1|b:2" {
		t.Errorf("%v", got)
	}
}
