package pgsql

import (
	"net/netip"
	"strings"
	"testing"
)

func TestUserName(t *testing.T) {
	if got := UserName(EndpointDB, "postgresql-client"); got != "juju_postgresql-client" {
		t.Errorf("db user %q", got)
	}
	if got := UserName(EndpointDBAdmin, "app/3"); got != "jujuadmin_app" {
		t.Errorf("db-admin user %q", got)
	}
	long := strings.Repeat("a", 70)
	got := UserName(EndpointDB, long)
	if len(got) != 63 || !strings.HasPrefix(got, "juju_"+strings.Repeat("a", 26)) {
		t.Errorf("long name %q (%d)", got, len(got))
	}
	if UserName(EndpointDB, long) != got || UserName(EndpointDB, long+"b") == got {
		t.Error("shortened names must be stable and distinct")
	}
	if exact := "juju_" + strings.Repeat("x", 58); UserName(EndpointDB, strings.Repeat("x", 58)) != exact {
		t.Error("a 63-byte name must stay as it is")
	}
}

func TestConnString(t *testing.T) {
	c := Conn("10.0.0.5", "5432", "app", "juju_app", "XXX")
	if got := c.String(); got != "dbname=app host=10.0.0.5 password=XXX port=5432 user=juju_app" {
		t.Errorf("got %q", got)
	}
	odd := ConnString{"dbname": "my db", "password": `it's\x`, "user": ""}
	s := odd.String()
	if s != `dbname='my db' password='it\'s\\x' user=''` {
		t.Errorf("quoting: %q", s)
	}
	back := ParseConnString(s)
	for k, v := range odd {
		if back[k] != v {
			t.Errorf("round trip %s: %q != %q", k, back[k], v)
		}
	}
	if (ConnString{}).String() != "" {
		t.Error("empty connection string must render empty")
	}
}

func TestRequest(t *testing.T) {
	r := ParseRequest(map[string]string{"database": " cli ", "roles": "b, a,,a", "extensions": "pgcrypto,citext(ext)"})
	if r.Database != "cli" || strings.Join(r.Roles, ",") != "a,b" || strings.Join(r.Extensions, ",") != "citext(ext),pgcrypto" {
		t.Errorf("%+v", r)
	}
	if n, s := Extension("citext(ext)"); n != "citext" || s != "ext" {
		t.Errorf("Extension: %q %q", n, s)
	}
	if n, s := Extension("pgcrypto"); n != "pgcrypto" || s != "" {
		t.Errorf("Extension: %q %q", n, s)
	}
}

func TestPublishedData(t *testing.T) {
	p := Published{Database: "cli", User: "juju_cli", Password: "pw", SchemaUser: true, Version: "15", State: StateMaster,
		Host: "10.1.0.2", Port: "5432", AllowedUnits: []string{"cli/1", "cli/0"},
		AllowedSubnets: []netip.Prefix{netip.MustParsePrefix("10.2.0.7/32"), netip.MustParsePrefix("10.2.0.5/32"), netip.MustParsePrefix("10.2.0.7/32")},
		Master:         Conn("10.1.0.2", "5432", "cli", "juju_cli", "pw"),
		Standbys:       []ConnString{Conn("10.1.0.4", "5432", "cli", "juju_cli", "pw"), Conn("10.1.0.3", "5432", "cli", "juju_cli", "pw")}}
	d := p.Data()
	want := map[string]string{"allowed-units": "cli/0 cli/1", "allowed-subnets": "10.2.0.5/32,10.2.0.7/32",
		"schema_user": "juju_cli", "schema_password": "pw", "state": "master",
		"master": "dbname=cli host=10.1.0.2 password=pw port=5432 user=juju_cli"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %q, want %q", k, d[k], v)
		}
	}
	if lines := strings.Split(d["standbys"], "\n"); len(lines) != 2 || !strings.Contains(lines[0], "10.1.0.3") {
		t.Errorf("standbys %q", d["standbys"])
	}
	p.SchemaUser = false
	if d := p.Data(); d["schema_user"] != "" {
		t.Error("db-admin must not publish schema_user")
	}
}

func TestReady(t *testing.T) {
	req := Request{Database: "cli", Roles: []string{"r1"}}
	egress := ParsePrefixes("10.2.0.5/32")
	good := map[string]string{"host": "10.1.0.2", "port": "5432", "database": "cli", "user": "juju_cli", "password": "pw",
		"allowed-subnets": "10.2.0.0/24", "roles": "r1"}
	if !Ready(req, "cli/0", egress, good) {
		t.Fatal("complete, covering, echoing data must be ready")
	}
	mutate := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := map[string]map[string]string{
		"no password":          mutate("password", ""),
		"subnet not covered":   mutate("allowed-subnets", "10.3.0.0/24"),
		"broader egress":       mutate("allowed-subnets", "10.2.0.5/32,10.9.0.0/16"),
		"other database":       mutate("database", "other"),
		"roles not echoed yet": mutate("roles", ""),
		"extra extension":      mutate("extensions", "pgcrypto"),
	}
	cases["broader egress"] = mutate("allowed-subnets", "10.2.0.6/32")
	for name, data := range cases {
		if Ready(req, "cli/0", egress, data) {
			t.Errorf("%s: must not be ready", name)
		}
	}
	legacy := mutate("allowed-subnets", "")
	legacy["allowed-units"] = "cli/0 cli/1"
	if !Ready(req, "cli/0", nil, legacy) {
		t.Error("a legacy server naming the unit in allowed-units is ready")
	}
	if Ready(req, "cli/2", nil, legacy) {
		t.Error("a unit missing from allowed-units is not ready")
	}
}

func TestServices(t *testing.T) {
	m := Conn("10.1.0.2", "5432", "cli", "u", "p")
	s := Services("db", "db:0", m, []ConnString{Conn("10.1.0.3", "5432", "cli", "u", "p")})
	for _, n := range []string{"db_master", "db_1", "db:0_master", "db:0_1"} {
		if _, ok := s[n]; !ok {
			t.Errorf("service %s missing from %v", n, s)
		}
	}
	f := ServiceFile(s)
	if !strings.Contains(f, "[db_master]\ndbname=cli\nhost=10.1.0.2\npassword=p\nport=5432\nuser=u\n") {
		t.Errorf("service file:\n%s", f)
	}
}
