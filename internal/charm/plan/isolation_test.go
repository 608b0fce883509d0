package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgsql"
)

func TestCatchAll(t *testing.T) {
	refused := []string{"0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/7", "::ffff:0.0.0.0/96", "2000::/3", "::ffff:0:0/100"}
	for _, s := range refused {
		if CatchAll(netip.MustParsePrefix(s)) == "" {
			t.Errorf("%s must be refused", s)
		}
	}
	for _, s := range []string{"10.0.0.0/8", "10.2.0.5/32", "192.168.0.0/16", "fd00::/16", "fd00:1::/64", "::ffff:10.0.0.0/104"} {
		if why := CatchAll(netip.MustParsePrefix(s)); why != "" {
			t.Errorf("%s refused: %s", s, why)
		}
	}
	kept, why := FilterSubnets(pgsql.ParsePrefixes("10.2.0.5/32,0.0.0.0/0,10.3.0.0/24"))
	if joinP(kept) != "10.2.0.5/32,10.3.0.0/24" || !strings.Contains(why, "0.0.0.0/0") {
		t.Errorf("kept %v why %q", kept, why)
	}
}

// The attacker: a client unit rewrites its egress-subnets to 0.0.0.0/0. The relation
// blocks naming it, pg_hba admits the unit's other subnets and every other unit only.
func TestDecideClientCatchAllEgress(t *testing.T) {
	for _, bad := range []string{"0.0.0.0/0", "::/0", "10.2.0.5/32,0.0.0.0/0", "::ffff:0.0.0.0/96"} {
		c := DecideClient(rel(pgsql.EndpointDB, "cli", map[string]map[string]string{
			"cli/0": {"egress-subnets": bad, "ingress-address": "10.2.0.5"},
			"cli/1": {"egress-subnets": "10.2.0.6/32"},
		}))
		if !strings.Contains(c.Problem, "covers the whole network") || !c.Admit {
			t.Errorf("%s: problem %q admit %v", bad, c.Problem, c.Admit)
		}
		for _, r := range c.HBARules() {
			if p := netip.MustParsePrefix(r.Address); CatchAll(p) != "" {
				t.Errorf("%s: pg_hba admits %s", bad, r.Address)
			}
		}
		if !strings.Contains(joinP(c.Subnets), "10.2.0.6/32") || !strings.Contains(joinP(c.Subnets), "10.2.0.5/32") {
			t.Errorf("%s: a unit lost its own address: %v", bad, c.Subnets)
		}
		if !strings.Contains(c.Problem, "unit cli/0") {
			t.Errorf("%s: the problem must name the unit: %q", bad, c.Problem)
		}
	}
}

func TestDecideClaims(t *testing.T) {
	owners := map[string]string{
		"a":      "juju_a",                 // a's own (pgsql)
		"b":      "juju_database_b",        // b's (database relation), b not related now
		"shared": "postgres",               // made by an operator
		"x":      "jujuadmin_x",            // an admin client's
		"legacy": "juju_someone-else-gone", // a client that is gone
	}
	claims := []Claim{
		{ID: "db:3", App: "a", Database: "a"},
		{ID: "database:12", App: "a", Database: "a"},     // the same application on the other protocol
		{ID: "db:4", App: "c", Database: "b"},            // another application's data
		{ID: "database:10", App: "c", Database: "new"},   // new, first asked
		{ID: "database:9", App: "d", Database: "shared"}, // an operator's database, first
		{ID: "db:11", App: "e", Database: "shared"},      // held by d
		{ID: "db:13", App: "e", Database: "new"},         // held by c (older relation)
		{ID: "db:2", App: "adm", Database: "b", Admin: true},
		{ID: "db:14", App: "adm", Database: "fresh", Admin: true},
		{ID: "db:15", App: "f", Database: "legacy"},
	}
	got := DecideClaims(claims, owners)
	want := map[string]string{"db:3": "", "database:12": "", "db:4": "belongs to another client application (owner juju_database_b)",
		"database:10": "", "database:9": "", "db:11": "held by d on relation database:9", "db:13": "held by c on relation database:10",
		"db:2": "", "db:14": "", "db:15": "belongs to another client application"}
	for id, w := range want {
		d := got[id]
		if (w == "") != (d.Problem == "") || !strings.Contains(d.Problem, w) {
			t.Errorf("%s: %q, want %q", id, d.Problem, w)
		}
	}
	if !got["database:10"].Create || got["db:3"].Create || got["database:9"].Create || got["db:2"].Create || !got["db:14"].Create {
		t.Errorf("create decisions %+v", got)
	}
	// An admin never creates (and so owns) a database a client asks for.
	both := DecideClaims([]Claim{{ID: "db:1", App: "adm", Database: "n", Admin: true}, {ID: "db:2", App: "c", Database: "n"}}, nil)
	if both["db:1"].Create || !both["db:2"].Create {
		t.Errorf("admin and client on a new database: %+v", both)
	}
	// Relation ids order by number, not text.
	order := DecideClaims([]Claim{{ID: "db:10", App: "p", Database: "n"}, {ID: "db:9", App: "q", Database: "n"}}, nil)
	if order["db:9"].Problem != "" || order["db:10"].Problem == "" {
		t.Errorf("order %+v", order)
	}
}

func TestCheckRole(t *testing.T) {
	cases := []struct {
		f    RoleFacts
		want string
	}{
		{RoleFacts{Name: "new"}, ""},
		{RoleFacts{Name: "reader", Exists: true}, ""},
		{RoleFacts{Name: "sneaky", Exists: true, Reaches: []string{"pg_read_server_files"}}, "member of pg_read_server_files"},
		{RoleFacts{Name: "boss", Exists: true, Powers: []string{"CREATEROLE"}}, "CREATEROLE powers"},
		{RoleFacts{Name: "login", Exists: true, Powers: []string{"LOGIN"}}, "LOGIN powers"},
	}
	for _, tc := range cases {
		got := CheckRole(tc.f)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}
