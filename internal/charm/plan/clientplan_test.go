package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgsql"
)

func clientOf(t *testing.T, ep, id, app string, bag map[string]string) Client {
	t.Helper()
	c := DecideClient(ClientRelation{Endpoint: ep, ID: id, App: app, Units: map[string]map[string]string{
		app + "/0": merge(map[string]string{"egress-subnets": "10.2.0.7/32", "ingress-address": "10.2.0.7"}, bag)}})
	return c
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// serving is the application's primary (or its standby) with one db client whose
// credentials exist, the server answering.
func serving(t *testing.T, mk func() Observed, bag map[string]string) (Observed, Client) {
	o := mk()
	o.Port = 5432
	o.Address = o.Self[KeyAddress]
	c := clientOf(t, pgsql.EndpointDB, "db:4", "app", bag)
	o.AppBag.ClientSecrets = "app=secret:9"
	o.Clients = ClientsFacts{Clients: []Client{c}, Hosts: map[string]string{"db:4": o.Address},
		Passwords: map[string]map[string]string{"app": {pgsql.EndpointDB: "pw-db", pgsql.EndpointDBAdmin: "pw-admin"}},
		Server: &ClientServer{Extensions: map[string]bool{"citext": true}, Claims: map[string]ClaimDecision{"db:4": {Create: true}},
			Roles: map[string]RoleFacts{}, Replicated: map[string]bool{}}}
	return o, c
}

func TestDecideClientsPrimary(t *testing.T) {
	o, c := serving(t, settledPrimary, nil)
	p := Decide(o).Clients
	if len(p.Actions) != 1 || !p.Actions[0].Provision || p.Actions[0].Token != c.Provisioned(o.Address) || p.Actions[0].Password != "pw-db" {
		t.Fatalf("primary provisions: %+v", p)
	}
	if got := p.Actions[0].Bag; got["master"] == "" || got["password"] != "pw-db" || got["state"] != pgsql.StateMaster {
		t.Errorf("published: %v", got)
	}
	if !reflect.DeepEqual(p.Tokens, []string{c.HostToken(o.Address)}) || p.Refused != nil || p.CreateSecrets != nil {
		t.Errorf("primary: %+v", p)
	}

	refused := func(name string, f func(*Observed), want string) {
		t.Helper()
		o, _ := serving(t, settledPrimary, map[string]string{"extensions": "citext,hstore", "roles": "grp"})
		o.Clients.Server.Roles["grp"] = RoleFacts{Name: "grp"}
		f(&o)
		d := Decide(o)
		if len(d.Clients.Actions) != 0 || !reflect.DeepEqual(d.Why.Refused, []string{"db:4: " + want}) ||
			d.Status.Name != StatusBlocked || !strings.Contains(d.Status.Message, want) {
			t.Errorf("%s: %+v, status %+v", name, d.Clients, d.Status)
		}
	}
	refused("an extension is missing", func(o *Observed) {}, "extension hstore not installed on this server")
	refused("a role reaches a power", func(o *Observed) {
		o.Clients.Server.Extensions["hstore"] = true
		o.Clients.Server.Roles["grp"] = RoleFacts{Name: "grp", Exists: true, Powers: []string{"SUPERUSER"}}
	}, CheckRole(RoleFacts{Name: "grp", Exists: true, Powers: []string{"SUPERUSER"}}))
	refused("another application's database", func(o *Observed) {
		o.Clients.Server.Claims["db:4"] = ClaimDecision{Problem: "database app belongs to another application"}
	}, "database app belongs to another application")

	// No credentials yet: nothing provisioned or published, nothing refused; the leader
	// creates them, once per application.
	o, _ = serving(t, settledPrimary, nil)
	admin := clientOf(t, pgsql.EndpointDBAdmin, "db-admin:5", "app", nil)
	o.Clients.Clients = append(o.Clients.Clients, admin)
	o.AppBag.ClientSecrets, o.Clients.Passwords = "", map[string]map[string]string{}
	p = Decide(o).Clients
	if !reflect.DeepEqual(p.CreateSecrets, []string{"app"}) || len(p.Actions) != 0 || p.Refused != nil {
		t.Errorf("no credentials: %+v", p)
	}
	// A db-admin client waits for the client that asked for its database first to make it.
	o, _ = serving(t, settledPrimary, nil)
	o.Clients.Clients = []Client{admin}
	if p := Decide(o).Clients; len(p.Actions) != 0 || p.Refused != nil {
		t.Errorf("db-admin before its database exists: %+v", p)
	}
	o.Clients.Server.Claims["db-admin:5"] = ClaimDecision{Exists: true}
	if p := Decide(o).Clients; len(p.Actions) != 1 || p.Actions[0].Password != "pw-admin" {
		t.Errorf("db-admin once it exists: %+v", p)
	}
}

func TestDecideClientsNotServing(t *testing.T) {
	// A request refused on its face is refused whatever the server does.
	o, _ := serving(t, settledPrimary, map[string]string{"database": "bad name!"})
	o.Clients.Server = nil
	d := Decide(o)
	if len(d.Why.Refused) != 1 || len(d.Clients.Actions) != 0 || d.Clients.Tokens != nil {
		t.Errorf("server not asked: %+v", d.Clients)
	}
	// A stopped server publishes nothing, and reports no address on the relation.
	o, _ = serving(t, settledPrimary, nil)
	o.Local.Running = false
	if p := Decide(o).Clients; len(p.Actions) != 0 || p.Tokens != nil {
		t.Errorf("stopped: %+v", p)
	}
}

func TestDecideClientsStandby(t *testing.T) {
	o, c := serving(t, settledStandby, nil)
	p := Decide(o).Clients
	if len(p.Actions) != 0 || !reflect.DeepEqual(p.Tokens, []string{c.HostToken(o.Address)}) {
		t.Errorf("before the primary provisioned: %+v", p)
	}
	o.Peers[unitA][KeyClients] = c.Provisioned("198.18.0.1")
	if p := Decide(o).Clients; len(p.Actions) != 0 {
		t.Errorf("provisioned, not replicated here yet: %+v", p)
	}
	o.Clients.Server.Replicated["db:4"] = true
	p = Decide(o).Clients
	if len(p.Actions) != 1 || p.Actions[0].Provision || p.Actions[0].Token != "" {
		t.Fatalf("replicated: %+v", p)
	}
	if bag := p.Actions[0].Bag; bag["state"] != pgsql.StateStandby || !strings.Contains(bag["master"], "198.18.0.1") {
		t.Errorf("a standby publishes the primary at its address on the relation: %v", bag)
	}
}
