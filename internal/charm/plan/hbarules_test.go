package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/pgsql"
)

func TestDecideHBA(t *testing.T) {
	o, c := serving(t, settledPrimary, nil)
	db, _ := databases(settledPrimary, nil)
	o.Databases = db.Databases
	o.HBA = HBAOptions{AdminAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}, ExtraPgAuth: "host all all 10.9.0.0/16 scram-sha-256"}
	render := func(o Observed) string {
		d := Decide(o)
		var lines []string
		for _, r := range d.HBA {
			lines = append(lines, strings.Join(strings.Fields(r.Type+" "+r.Database+" "+r.User+" "+r.Address+" "+r.Raw), " "))
		}
		return strings.Join(lines, "\n")
	}
	// While the server has not answered whose databases they are, no client is admitted
	// to its database (a db-admin client is: it reaches every database anyway).
	got := render(o)
	for _, want := range []string{"replication juju_replication 10.0.0.1", "replication juju_replication 10.0.0.2",
		"192.168.0.0/24", "10.9.0.0/16"} {
		if !strings.Contains(got, want) {
			t.Errorf("rules lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, c.User) || strings.Contains(got, "juju_database_app") {
		t.Errorf("clients admitted before their claims are decided:\n%s", got)
	}
	o.Claims = map[string]ClaimDecision{"db:4": {Create: true}, "database:7": {Problem: "not yours"}}
	got = render(o)
	if !strings.Contains(got, " app "+c.User+" 10.2.0.7/32") || strings.Contains(got, "juju_database_app") {
		t.Errorf("the db client whose database is its own, not the one refused:\n%s", got)
	}
	if d := Decide(o); strings.Join(d.Admits, " ") != unitB {
		t.Errorf("admits %v", d.Admits)
	}
	// Client rules are TLS only when tls_required.
	o.TLSRequired = true
	if got := render(o); !strings.Contains(got, "hostssl app "+c.User) {
		t.Errorf("tls_required: %s", got)
	}
	admin := clientOf(t, pgsql.EndpointDBAdmin, "db-admin:5", "adm", nil)
	o.Clients.Clients, o.Claims = []Client{admin}, nil
	if got := render(o); !strings.Contains(got, admin.User) {
		t.Errorf("db-admin client not admitted:\n%s", got)
	}
}

func TestDecideRestart(t *testing.T) {
	o := settledPrimary()
	o.NeedsRestart = true
	o.Peers[unitB][KeyRestart] = "true"
	d := Decide(o)
	if d.Restart || !d.Why.Restart || d.Status != (Status{StatusWaiting, msgRestart}) {
		t.Errorf("the primary waits for its standby to restart first: %+v %+v", d.Restart, d.Status)
	}
	s := settledStandby()
	s.NeedsRestart = true
	s.AppBag.RestartHolder = unitB
	if d := Decide(s); !d.Restart || d.Why.Restart {
		t.Errorf("the standby holding the lock restarts: %+v", d)
	}
	// Not while a step is still to be taken.
	s.Local.Following = ""
	if d := Decide(s); d.Restart || d.Why.Restart || d.Step != StepFollow {
		t.Errorf("restart before the unit settled: %+v", d)
	}
}
