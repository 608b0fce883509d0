package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgsql"
)

func rel(ep, app string, units map[string]map[string]string) ClientRelation {
	return ClientRelation{Endpoint: ep, ID: ep + ":3", App: app, Units: units}
}

func TestDecideClientDefaults(t *testing.T) {
	c := DecideClient(rel(pgsql.EndpointDB, "client-db", map[string]map[string]string{
		"client-db/1": {"egress-subnets": "10.2.0.7/32", "ingress-address": "10.2.0.7"},
		"client-db/0": {"egress-subnets": "10.2.0.0/24, 10.2.0.5/32", "roles": "b,a"},
	}))
	if c.Problem != "" || !c.Admit {
		t.Fatalf("refused: %+v", c)
	}
	if c.Request.Database != "client-db" || c.User != "juju_client-db" || strings.Join(c.Request.Roles, ",") != "a,b" {
		t.Errorf("request %+v user %s", c.Request, c.User)
	}
	if strings.Join(c.Units, " ") != "client-db/0 client-db/1" {
		t.Errorf("units %v", c.Units)
	}
	if got := joinP(c.Subnets); got != "10.2.0.0/24,10.2.0.5/32,10.2.0.7/32" {
		t.Errorf("subnets %s", got)
	}
	rules := c.HBARules()
	if len(rules) != 3 || rules[0].Database != "client-db" || rules[0].User != "juju_client-db" || rules[0].Method != "scram-sha-256" {
		t.Errorf("rules %+v", rules)
	}
}

func joinP(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func TestUnitSubnetsFallbacks(t *testing.T) {
	cases := []struct {
		bag  map[string]string
		want string
	}{
		{map[string]string{"egress-subnets": "10.0.0.0/16", "ingress-address": "10.0.0.9", "private-address": "10.9.9.9"}, "10.0.0.0/16"},
		{map[string]string{"ingress-address": "10.0.0.9", "private-address": "10.9.9.9"}, "10.0.0.9/32"},
		{map[string]string{"private-address": "10.9.9.9"}, "10.9.9.9/32"},
		{map[string]string{"ingress-address": "fd00::1"}, "fd00::1/128"},
		{map[string]string{"ingress-address": "not-an-address"}, ""},
		{map[string]string{"egress-subnets": "192.0.2.0/24,bogus"}, "192.0.2.0/24"},
	}
	for _, tc := range cases {
		if got := joinP(UnitSubnets(tc.bag)); got != tc.want {
			t.Errorf("%v: got %q want %q", tc.bag, got, tc.want)
		}
	}
}

func TestDecideClientAdmin(t *testing.T) {
	c := DecideClient(rel(pgsql.EndpointDBAdmin, "pgbouncer", map[string]map[string]string{
		"pgbouncer/0": {"ingress-address": "10.2.0.9", "database": "postgres"},
	}))
	if c.Problem != "" || c.User != "jujuadmin_pgbouncer" || !c.Admin() {
		t.Fatalf("%+v", c)
	}
	r := c.HBARules()
	if len(r) != 1 || r[0].Database != hba.All || r[0].Address != "10.2.0.9/32" {
		t.Errorf("admin rules %+v", r)
	}
	if d := Publish(c, Server{State: pgsql.StateMaster, Host: "h", Port: "5432", Master: "h"}, "pw"); d["schema_user"] != "" || d["user"] != "jujuadmin_pgbouncer" {
		t.Errorf("admin publish %v", d)
	}
}

func TestDecideClientRefusals(t *testing.T) {
	cases := []struct {
		bag   map[string]string
		admit bool
		want  string
	}{
		{map[string]string{"database": `x"; DROP TABLE y`}, false, "not a valid identifier"},
		{map[string]string{"database": strings.Repeat("d", 64)}, false, "not a valid identifier"},
		{map[string]string{"database": "template1"}, false, "cannot be handed"},
		{map[string]string{"database": "postgres"}, false, "cannot be handed"},
		{map[string]string{"roles": "ok,bad role"}, true, `role "bad role" is not a valid identifier`},
		{map[string]string{"roles": "postgres"}, true, "reserved"},
		{map[string]string{"roles": "pg_read_server_files"}, true, "predefined"},
		{map[string]string{"roles": "juju_other"}, true, "client users"},
		{map[string]string{"extensions": "pgcrypto;drop"}, true, "not a valid extension name"},
		{map[string]string{"extensions": "citext(pg_catalog)"}, true, "not a valid schema name"},
		{map[string]string{"extensions": "citext(a b)"}, true, "not a valid schema name"},
		{map[string]string{"extensions": "citext(x"}, true, "not a valid extension name"},
	}
	for _, tc := range cases {
		tc.bag["ingress-address"] = "10.2.0.1"
		c := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": tc.bag}))
		if !strings.Contains(c.Problem, tc.want) || c.Admit != tc.admit {
			t.Errorf("%v: problem %q admit %v; want %q admit %v", tc.bag, c.Problem, c.Admit, tc.want, tc.admit)
		}
		if !tc.admit && len(c.HBARules()) != 0 {
			t.Errorf("%v: a refused database must admit nobody", tc.bag)
		}
	}
	ok := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": {"extensions": "citext(ext), pgcrypto", "database": "My_DB-1"}}))
	if ok.Problem != "" {
		t.Errorf("valid request refused: %s", ok.Problem)
	}
}

func TestDecideClientAppBagFirst(t *testing.T) {
	r := rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": {"database": "unitdb"}})
	r.AppBag = map[string]string{"database": "appdb"}
	if c := DecideClient(r); c.Request.Database != "appdb" {
		t.Errorf("database %q", c.Request.Database)
	}
}

func TestClientRulesOrderAndNoUnits(t *testing.T) {
	a := DecideClient(ClientRelation{Endpoint: "db", ID: "db:9", App: "a", Units: map[string]map[string]string{"a/0": {"ingress-address": "10.0.0.1"}}})
	b := DecideClient(ClientRelation{Endpoint: "db", ID: "db:10", App: "b", Units: map[string]map[string]string{"b/0": {"ingress-address": "10.0.0.2"}}})
	empty := DecideClient(ClientRelation{Endpoint: "db", ID: "db:11", App: "c"})
	rules := ClientRules([]Client{a, b, empty})
	if len(rules) != 2 || rules[0].User != "juju_b" {
		t.Errorf("rules %+v", rules)
	}
}

func TestPublishAndServerView(t *testing.T) {
	c := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": {"egress-subnets": "10.2.0.5/32", "roles": "r"}}))
	s := Server{State: pgsql.StateStandby, Port: "5432", Version: "15", Master: "10.1.0.2", Standbys: []string{"10.1.0.3", "10.1.0.4"}}
	v := s.For("10.1.0.3", "192.0.2.3")
	d := Publish(c, v, "secret-pw")
	want := map[string]string{
		"host": "192.0.2.3", "state": "hot standby", "user": "juju_cli", "password": "secret-pw", "schema_user": "juju_cli",
		"schema_password": "secret-pw", "database": "cli", "roles": "r", "version": "15", "port": "5432",
		"allowed-units": "cli/0", "allowed-subnets": "10.2.0.5/32",
		"master":   "dbname=cli host=10.1.0.2 password=secret-pw port=5432 user=juju_cli",
		"standbys": "dbname=cli host=10.1.0.4 password=secret-pw port=5432 user=juju_cli\ndbname=cli host=192.0.2.3 password=secret-pw port=5432 user=juju_cli",
	}
	for k, w := range want {
		if d[k] != w {
			t.Errorf("%s = %q, want %q", k, d[k], w)
		}
	}
	if !pgsql.Ready(c.Request, "cli/0", pgsql.ParsePrefixes("10.2.0.5/32"), d) {
		t.Error("the client's own gating rules must accept what the server publishes")
	}
	if d := Publish(c, Server{State: pgsql.StateStandby, Host: "h", Port: "5432"}, "pw"); d["master"] != "" {
		t.Errorf("no primary: master must be empty, got %q", d["master"])
	}
}

func TestTokens(t *testing.T) {
	c := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": {"roles": "r"}}))
	d := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{"cli/0": {"roles": "r,s"}}))
	list := Tokens([]string{c.Provisioned("192.0.2.1")})
	if h, ok := ProvisionedAt(list, c); !ok || h != "192.0.2.1" {
		t.Errorf("tokens %q: %q %v", list, h, ok)
	}
	if _, ok := ProvisionedAt(list, d); ok {
		t.Error("a changed request must not count as provisioned")
	}
	if _, ok := ProvisionedAt("", c); ok {
		t.Error("an empty report provisions nothing")
	}
	if c.Token() == d.Token() {
		t.Error("a changed request must change the token")
	}
}
