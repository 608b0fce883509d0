package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgclient"
)

func dbClient(id, app string, bag map[string]string) DatabaseClient {
	return DecideDatabase(dbRel(id, app, bag, map[string]map[string]string{app + "/0": {"ingress-address": "10.2.0.7"}}), DatabaseOptions{})
}

// databases is the settled primary (the leader) with one database relation whose
// credentials exist, the server answering.
func databases(mk func() Observed, bag map[string]string) (Observed, DatabaseClient) {
	o := mk()
	o.Port = 5432
	o.Address = o.Self[KeyAddress]
	c := dbClient("database:7", "app", merge(map[string]string{"database": "mydb"}, bag))
	o.AppBag.DatabaseSecrets = "database:7=secret:d7"
	o.Databases = DatabasesFacts{Clients: []DatabaseClient{c}, Hosts: map[string]string{"database:7": o.Address},
		Own:     map[string]map[string]string{},
		Secrets: map[string]DatabaseSecret{"database:7": {URI: "secret:d7", Content: map[string]string{"username": c.User, "password": "pw7"}}},
		Server:  &DatabaseServer{Claims: map[string]ClaimDecision{"database:7": {Create: true}}, Roles: map[string]RoleFacts{}},
		CACert:  "-----BEGIN CERTIFICATE-----"}
	return o, c
}

func TestDecideDatabasesPrimary(t *testing.T) {
	o, c := databases(settledPrimary, nil)
	o.Databases.Server.LoginRoles = []string{c.User, "juju_database_gone", "someone"}
	p := Decide(o).Databases
	want := []DatabaseProvision{{Client: c, Password: "pw7", Claim: ClaimDecision{Create: true}, Token: c.Token() + "@" + o.Address}}
	if !reflect.DeepEqual(p.Provision, want) || !reflect.DeepEqual(p.Revoke, []string{"juju_database_gone"}) || p.Refs != nil {
		t.Fatalf("primary: %+v", p)
	}
	// The leader answers in the same hook as it provisions: its own report is what it
	// provisions now.
	if len(p.Answers) != 1 {
		t.Fatalf("answers: %+v", p.Answers)
	}
	a := p.Answers[0]
	if a.Bag[pgclient.KeyEndpoints] != o.Address+":5432" || a.Secret.URI != "secret:d7" || a.Secret.Content["password"] != "pw7" {
		t.Errorf("answer: %+v", a)
	}
	// A standby answers nothing and provisions nothing; it reports where it is.
	s, _ := databases(settledStandby, nil)
	sp := Decide(s).Databases
	if len(sp.Provision) != 0 || len(sp.Answers) != 0 || sp.Revoke != nil ||
		!reflect.DeepEqual(sp.Tokens, []string{c.StandbyToken(s.Address)}) {
		t.Errorf("standby: %+v", sp)
	}
	// Without its units' addresses pg_hba admits none of them: no answer yet.
	o, _ = databases(settledPrimary, nil)
	o.Databases.Clients[0].Subnets = nil
	if p := Decide(o).Databases; len(p.Answers) != 0 || len(p.Provision) != 1 {
		t.Errorf("no client address yet: %+v", p)
	}
}

func TestDecideDatabasesRefused(t *testing.T) {
	cases := []struct {
		name string
		f    func(*Observed)
		want string
	}{
		{"a role that does not exist", func(o *Observed) {}, `extra-user-roles: role "app_reader" does not exist on this server`},
		{"a role with a power", func(o *Observed) {
			o.Databases.Server.Roles["app_reader"] = RoleFacts{Name: "app_reader", Exists: true, Powers: []string{"LOGIN"}}
		}, "extra-user-roles: " + CheckRole(RoleFacts{Name: "app_reader", Exists: true, Powers: []string{"LOGIN"}})},
		{"another application's database", func(o *Observed) {
			o.Databases.Server.Claims["database:7"] = ClaimDecision{Problem: "mydb belongs to another"}
		}, "mydb belongs to another"},
	}
	for _, tc := range cases {
		o, _ := databases(settledPrimary, map[string]string{"extra-user-roles": "app_reader"})
		tc.f(&o)
		d := Decide(o)
		if !reflect.DeepEqual(d.Why.Refused, []string{"database:7: " + tc.want}) || len(d.Databases.Provision) != 0 ||
			d.Status.Name != StatusBlocked || !strings.Contains(d.Status.Message, tc.want) {
			t.Errorf("%s: %+v %+v", tc.name, d.Databases, d.Status)
		}
	}
}

func TestDecideDatabaseSecrets(t *testing.T) {
	o, c := databases(settledPrimary, nil)
	second := dbClient("database:9", "app", map[string]string{"database": "other"})
	other := dbClient("database:11", "other-app", map[string]string{"database": "x"})
	o.Databases.Clients = append(o.Databases.Clients, second, other)
	o.AppBag.DatabaseSecrets = "database:3=secret:d3 database:7=secret:d7 database:9=secret:gone"
	p := Decide(o).Databases
	if !reflect.DeepEqual(p.Refs, map[string]string{"database:7": "secret:d7"}) {
		t.Errorf("refs %v", p.Refs)
	}
	// The second relation of app shares its user's password; another application gets
	// a new one.
	want := []NewDatabaseSecret{{Client: second, Password: "pw7"}, {Client: other}}
	if !reflect.DeepEqual(p.CreateSecrets, want) || !reflect.DeepEqual(p.RemoveSecrets, []string{"secret:d3"}) {
		t.Errorf("create %+v remove %v", p.CreateSecrets, p.RemoveSecrets)
	}
	// Deciding again once they exist changes nothing.
	o.AppBag.DatabaseSecrets = "database:11=secret:d11 database:7=secret:d7 database:9=secret:d9"
	o.Databases.Secrets["database:9"] = DatabaseSecret{URI: "secret:d9", Content: map[string]string{"password": "pw7"}}
	o.Databases.Secrets["database:11"] = DatabaseSecret{URI: "secret:d11", Content: map[string]string{"password": "pw11"}}
	if p := Decide(o).Databases; p.Refs != nil || p.CreateSecrets != nil || p.RemoveSecrets != nil {
		t.Errorf("settled secrets: %+v", p)
	}
	// Only the leader keeps them.
	o.Leader = false
	o.AppBag.DatabaseSecrets = ""
	if p := Decide(o).Databases; p.Refs != nil || p.CreateSecrets != nil || len(p.Answers) != 0 {
		t.Errorf("not the leader: %+v", p)
	}
	_ = c
}
