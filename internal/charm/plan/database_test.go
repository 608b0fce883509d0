package plan

import (
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgclient"
)

func dbRel(id, app string, bag map[string]string, units map[string]map[string]string) DatabaseRelation {
	return DatabaseRelation{ID: id, App: app, AppBag: bag, Units: units}
}

var secretsAsked = `["username", "password", "tls", "tls-ca", "uris", "read-only-uris"]`

func TestDecideDatabase(t *testing.T) {
	c := DecideDatabase(dbRel("database:7", "data-integrator", map[string]string{"database": "mydb", "requested-secrets": secretsAsked,
		"external-node-connectivity": "true", "extra-user-roles": "app_reader,CREATEDB"},
		map[string]map[string]string{"data-integrator/1": {"egress-subnets": "10.2.0.8/32"}, "data-integrator/0": {"ingress-address": "10.2.0.7", "data": `{"secret-user": "x"}`}}),
		DatabaseOptions{})
	if c.Problem != "" || !c.Admit || c.User != "juju_database_data-integrator" || c.Request.Database != "mydb" {
		t.Fatalf("%+v", c)
	}
	if strings.Join(c.Roles, ",") != "app_reader" || !c.CreateDB || c.Superuser {
		t.Errorf("roles %v createdb %v super %v", c.Roles, c.CreateDB, c.Superuser)
	}
	r := c.Role("pw")
	if r.Superuser || !r.Login || !r.CreateDB || r.CreateRole || r.Replication {
		t.Errorf("role %+v", r)
	}
	rules := c.HBARules()
	if len(rules) != 2 || rules[0].Address != "10.2.0.7/32" || rules[1].Address != "10.2.0.8/32" || rules[0].Database != "mydb" ||
		rules[0].User != c.User || rules[0].Method != "scram-sha-256" {
		t.Errorf("rules %+v", rules)
	}
}

func TestDecideDatabaseRefusals(t *testing.T) {
	units := map[string]map[string]string{"cli/0": {"ingress-address": "10.2.0.1"}}
	cases := []struct {
		bag   map[string]string
		admit bool
		want  string
	}{
		{map[string]string{"database": "postgres"}, false, "cannot be handed"},
		{map[string]string{"database": "template1"}, false, "cannot be handed"},
		{map[string]string{"database": `x"y`}, false, "not a valid identifier"},
		{map[string]string{"database": "pre*"}, false, "prefix"},
		{map[string]string{"database": "d", "requested-secrets": "username"}, false, "not a JSON list"},
		{map[string]string{"database": "d", "extra-user-roles": "pg_read_server_files"}, true, `role "pg_read_server_files" is a predefined PostgreSQL role`},
		{map[string]string{"database": "d", "extra-user-roles": "superuser"}, true, "database_allow_superuser"},
		{map[string]string{"database": "d", "extra-user-roles": "createrole"}, true, "createrole is refused"},
		{map[string]string{"database": "d", "extra-user-roles": "juju_other"}, true, "client users"},
		{map[string]string{"database": "d", "extra-user-roles": "postgres"}, true, "reserved"},
		{map[string]string{"database": "d", "extra-user-roles": "a b"}, true, "not a valid identifier"},
	}
	for _, tc := range cases {
		c := DecideDatabase(dbRel("database:3", "cli", tc.bag, units), DatabaseOptions{})
		if !strings.Contains(c.Problem, tc.want) || c.Admit != tc.admit {
			t.Errorf("%v: problem %q admit %v; want %q admit %v", tc.bag, c.Problem, c.Admit, tc.want, tc.admit)
		}
	}
	if c := DecideDatabase(dbRel("database:3", "cli", map[string]string{"database": "d", "extra-user-roles": "SUPERUSER"}, units),
		DatabaseOptions{AllowSuperuser: true}); c.Problem != "" || !c.Superuser || !c.Role("p").Superuser {
		t.Errorf("allowed superuser: %+v", c)
	}
	// Not asked yet: neither admitted nor refused.
	if c := DecideDatabase(dbRel("database:3", "cli", map[string]string{}, units), DatabaseOptions{}); c.Problem != "" || c.Admit {
		t.Errorf("empty request: %+v", c)
	}
	// The attacker's egress-subnets: refused, the other subnets stay.
	c := DecideDatabase(dbRel("database:3", "cli", map[string]string{"database": "d"},
		map[string]map[string]string{"cli/0": {"egress-subnets": "0.0.0.0/0", "ingress-address": "10.2.0.8"}, "cli/1": {"egress-subnets": "10.2.0.9/32"}}), DatabaseOptions{})
	if !strings.Contains(c.Problem, "0.0.0.0/0") || !c.Admit || joinP(c.Subnets) != "10.2.0.8/32,10.2.0.9/32" {
		t.Errorf("catch-all: %+v", c)
	}
}

func TestDecideDatabasesSameApp(t *testing.T) {
	units := map[string]map[string]string{"cli/0": {"ingress-address": "10.2.0.1"}}
	cs := DecideDatabases([]DatabaseRelation{
		dbRel("database:12", "cli", map[string]string{"database": "two", "extra-user-roles": "r2"}, units),
		dbRel("database:4", "cli", map[string]string{"database": "one", "extra-user-roles": "r1"}, units),
		dbRel("database:5", "other", map[string]string{"database": "o"}, units),
	}, DatabaseOptions{})
	if cs[0].ID != "database:4" || cs[0].Problem != "" || !strings.Contains(cs[2].Problem, "relation database:4") || cs[1].Problem != "" {
		t.Errorf("%+v", cs)
	}
}

func TestDatabaseOfferAndHosts(t *testing.T) {
	c := DecideDatabase(dbRel("database:7", "cli", map[string]string{"database": "mydb", "requested-secrets": secretsAsked},
		map[string]map[string]string{"cli/0": {"ingress-address": "10.2.0.7"}}), DatabaseOptions{})
	reports := map[string]string{
		"pg/0": "db:3=abc@10.1.0.2 " + c.Token() + "@10.1.0.2",
		"pg/1": c.StandbyToken("10.1.0.4") + " database:8=standby@10.1.0.99",
		"pg/2": c.StandbyToken("10.1.0.3"),
	}
	h := HostsFor(c, "pg/0", reports, []string{"pg/1", "pg/2"})
	if !h.Provisioned || h.Primary != "10.1.0.2" || strings.Join(h.Standbys, ",") != "10.1.0.3,10.1.0.4" {
		t.Fatalf("hosts %+v", h)
	}
	if h := HostsFor(c, "pg/1", reports, nil); h.Provisioned {
		t.Error("a unit that did not provision it is not the primary's report")
	}
	changed := c
	changed.Roles = []string{"r"}
	if HostsFor(changed, "pg/0", reports, nil).Provisioned {
		t.Error("a changed request must wait for the primary")
	}
	// A client unit the leader has seen join and the primary not yet: the primary's
	// pg_hba does not admit it, so the answer waits for the primary's relation-joined.
	joined := DecideDatabase(dbRel("database:7", "cli", map[string]string{"database": "mydb", "requested-secrets": secretsAsked},
		map[string]map[string]string{"cli/0": {"ingress-address": "10.2.0.7"}, "cli/1": {"ingress-address": "10.2.0.8"}}), DatabaseOptions{})
	if HostsFor(joined, "pg/0", reports, nil).Provisioned {
		t.Error("a client subnet the primary does not admit yet must wait for the primary")
	}
	o := c.Offer(h, "5432", "15.8", "pw")
	if strings.Join(o.Endpoints, ",") != "10.1.0.2:5432" || strings.Join(o.ReadOnlyEndpoints, ",") != "10.1.0.3:5432,10.1.0.4:5432" {
		t.Errorf("offer %+v", o)
	}
	if !strings.Contains(o.URIs, "@10.1.0.2:5432,10.1.0.3:5432,10.1.0.4:5432/mydb?target_session_attrs=read-write") ||
		!strings.HasSuffix(o.ReadOnlyURIs, "target_session_attrs=prefer-standby") {
		t.Errorf("uris %s %s", o.URIs, o.ReadOnlyURIs)
	}
	// A switchover changes the endpoints, never the URIs (the secret's content).
	swapped := c.Offer(Hosts{Primary: "10.1.0.3", Standbys: []string{"10.1.0.2", "10.1.0.4"}}, "5432", "15.8", "pw")
	if swapped.URIs != o.URIs || swapped.ReadOnlyURIs != o.ReadOnlyURIs || strings.Join(swapped.Endpoints, ",") != "10.1.0.3:5432" {
		t.Errorf("after a switchover: %+v", swapped)
	}
	solo := c.Offer(Hosts{Primary: "10.1.0.2"}, "5432", "15.8", "pw")
	if strings.Join(solo.ReadOnlyEndpoints, ",") != "10.1.0.2:5432" {
		t.Errorf("no standbys: read-only-endpoints %v", solo.ReadOnlyEndpoints)
	}
	bag, secret := o.Split(c.Request)
	content := SecretContent(secret, c.User, "pw")
	if content["username"] != c.User || content["password"] != "pw" || content["uris"] == "" || bag["password"] != "" {
		t.Errorf("content %v bag %v", content, bag)
	}
}

func TestStaleDatabaseUsers(t *testing.T) {
	live := []DatabaseClient{{User: pgclient.UserName("a")}}
	got := StaleDatabaseUsers([]string{"juju_database_a", "juju_database_b", "juju_c", "postgres"}, live)
	if strings.Join(got, ",") != "juju_database_b" {
		t.Errorf("%v", got)
	}
	refs := ParseSecretRefs("database:5=secret:abc database:7=secret:def")
	if refs["database:7"] != "secret:def" || FormatSecretRefs(refs) != "database:5=secret:abc database:7=secret:def" {
		t.Errorf("%v", refs)
	}
}
