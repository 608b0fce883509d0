package plan

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/hba"
)

// ReplicationUser is the charm's role for replication, rewinds and the leader's
// measurements.
const ReplicationUser = "juju_replication"

// HBAOptions are the options that add to pg_hba.
type HBAOptions struct {
	AdminAddresses []netip.Prefix // admin_addresses, parsed (Config.Problems checked them)
	ExtraPgAuth    string         // extra_pg_auth, raw lines
}

// hbaRules admit peers for replication (and rewinds and measurements), the clients whose
// database is theirs, the admin_addresses, then the user's extra_pg_auth; everything
// else is rejected. admits are the peers whose addresses the rules hold.
func hbaRules(o Observed) (rules []hba.Rule, admits []string) {
	var addrs []string
	if o.Address != "" {
		addrs = append(addrs, o.Address)
	}
	for name, data := range o.Peers {
		rep, _ := ParseUnitReport(name, data)
		if rep.Address != "" {
			addrs = append(addrs, rep.Address)
			admits = append(admits, name)
		}
	}
	sort.Strings(addrs)
	sort.Strings(admits)
	for _, a := range addrs {
		rules = append(rules,
			// Peers always connect over TLS, verifying the server.
			hba.Rule{Type: "hostssl", Database: hba.Replication, User: ReplicationUser, Address: a, Method: "scram-sha-256"},
			hba.Rule{Type: "hostssl", Database: "postgres", User: ReplicationUser, Address: a, Method: "scram-sha-256"})
	}
	clients := claimedRules(o)
	for _, p := range o.HBA.AdminAddresses {
		clients = append(clients, hba.Rule{Type: "host", Database: hba.All, User: hba.All, Address: p.String(), Method: "scram-sha-256"})
	}
	rules = append(rules, ClientTLS(clients, o.TLSRequired)...)
	if extra := strings.TrimSpace(o.HBA.ExtraPgAuth); extra != "" {
		rules = append(rules, hba.Rule{Raw: extra})
	}
	return rules, admits
}

// claimedRules are the pg_hba rules of the clients whose database is theirs (Claims);
// db-admin clients (every database) are never refused one. While the server cannot be
// asked (Claims nil) no client is admitted to its database.
func claimedRules(o Observed) []hba.Rule {
	var pgsqlClients []Client
	for _, c := range o.Clients.Clients {
		if d, ok := o.Claims[c.ID]; c.Admin() || (ok && d.Problem == "") {
			pgsqlClients = append(pgsqlClients, c)
		}
	}
	var dbClients []DatabaseClient
	for _, c := range o.Databases.Clients {
		if d, ok := o.Claims[c.ID]; ok && d.Problem == "" {
			dbClients = append(dbClients, c)
		}
	}
	return append(ClientRules(pgsqlClients), DatabaseRules(dbClients)...)
}

// Claims are the claims of every client relation of either protocol on its database.
func Claims(o Observed) []Claim {
	var claims []Claim
	for _, c := range o.Clients.Clients {
		if c.Admit {
			claims = append(claims, Claim{ID: c.ID, App: c.App, Database: c.Request.Database, Admin: c.Admin()})
		}
	}
	for _, c := range o.Databases.Clients {
		if c.Admit {
			claims = append(claims, Claim{ID: c.ID, App: c.App, Database: c.Request.Database})
		}
	}
	return claims
}
