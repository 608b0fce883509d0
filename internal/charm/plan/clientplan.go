package plan

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/pgsql"
)

// The db and db-admin relations (pgsql interface) as one decision: which requests are
// refused and why, which the primary provisions, what every unit publishes, and which
// client secrets the leader creates. What the server holds (extensions, the databases'
// owners, what requested roles reach, what has replicated to a standby) is observed
// first; nothing here asks it.

// ClientsFacts are what the hook observed of the client relations.
type ClientsFacts struct {
	Clients []Client                     // DecideClient of each relation, sorted by relation id
	Hosts   map[string]string            // relation id: this unit's ingress address on it
	Self    map[string]map[string]string // relation id: this unit's own bag
	// Passwords are each client application's, by endpoint, from its secret (the
	// secret's id is in AppState.ClientSecrets).
	Passwords map[string]map[string]string
	// Server is what the local server holds for the clients; nil while it cannot be asked
	// (it does not run, or is neither the primary nor a standby).
	Server *ClientServer
}

// ClientServer is what the local server holds that bears on the client requests.
type ClientServer struct {
	Extensions map[string]bool          // available extensions
	Claims     map[string]ClaimDecision // every client's claim on its database (DecideClaims)
	Roles      map[string]RoleFacts     // what each requested role reaches
	// Replicated says, on a standby, that a client's user, database, roles and extensions
	// have arrived from the primary.
	Replicated map[string]bool
}

// ClientAction is what this unit does for one client whose request passed.
type ClientAction struct {
	Client    Client
	Password  string
	Provision bool              // the primary creates what the client asked for
	Token     string            // what this unit reports once done ("" for nothing)
	Bag       map[string]string // what it publishes on the relation once done
}

// ClientsPlan is the decision on the client relations.
type ClientsPlan struct {
	// CreateSecrets are the client applications the leader creates credentials for.
	CreateSecrets []string
	Refused       []string // "db:3: reason", for the status
	Actions       []ClientAction
	Tokens        []string // reported whatever the actions do (this unit's address on each relation)
}

// decideClients decides the client relations for a unit, given the chosen primary and
// whether it serves as it.
func decideClients(o Observed, app AppState, isPrimary bool) ClientsPlan {
	f := o.Clients
	var p ClientsPlan
	if len(f.Clients) == 0 {
		return p
	}
	ids := ParseSecretList(app.ClientSecrets)
	seen := map[string]bool{}
	for _, c := range f.Clients {
		if ids[c.App] == "" && o.Leader && o.Peered() && !seen[c.App] {
			p.CreateSecrets = append(p.CreateSecrets, c.App)
		}
		seen[c.App] = true
	}
	for _, c := range f.Clients {
		if c.Problem != "" {
			p.Refused = append(p.Refused, c.ID+": "+c.Problem)
		}
	}
	l, s := o.Local, f.Server
	if !l.Running || s == nil || (!isPrimary && !l.Standby) {
		return p
	}
	server := serverView(o, app.Primary)
	for _, c := range f.Clients {
		host := f.Hosts[c.ID]
		if host != "" {
			p.Tokens = append(p.Tokens, c.HostToken(host))
		}
		if c.Problem != "" {
			continue
		}
		claim := s.Claims[c.ID]
		if claim.Problem != "" {
			p.Refused = append(p.Refused, c.ID+": "+claim.Problem)
			continue
		}
		if c.Admin() && !claim.Create && !claim.Exists {
			continue // the client that asked for the database first creates it
		}
		if msg := checkRequest(c, s); msg != "" {
			p.Refused = append(p.Refused, c.ID+": "+msg)
			continue
		}
		pw := f.Passwords[c.App][c.Endpoint]
		if pw == "" {
			continue // the leader creates its credentials
		}
		v := server.For(o.Address, host).Across(host != o.Address, peerHosts(o, c.ID))
		a := ClientAction{Client: c, Password: pw}
		if isPrimary {
			a.Provision, a.Token = true, c.Provisioned(v.Host)
		} else {
			rep, _ := ParseUnitReport(app.Primary, o.Peers[app.Primary])
			at, provisioned := ProvisionedAt(rep.Clients, c)
			if app.Primary == "" || !provisioned || !s.Replicated[c.ID] {
				continue
			}
			if at != "" && v.Master != "" {
				v.Master = at
			}
		}
		a.Bag = Publish(c, v, pw)
		p.Actions = append(p.Actions, a)
	}
	return p
}

// checkRequest refuses what the server cannot or must not do for a client: extensions
// that are not installed, and roles to grant that already exist with powers of their own
// or reach roles that have them (CheckRole).
func checkRequest(c Client, s *ClientServer) string {
	var missing []string
	for _, e := range c.Request.Extensions {
		if name, _ := pgsql.Extension(e); !s.Extensions[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "extension " + strings.Join(missing, ", ") + " not installed on this server"
	}
	if c.Admin() {
		return "" // a superuser has every role's powers anyway
	}
	for _, role := range c.Request.Roles {
		if msg := CheckRole(s.Roles[role]); msg != "" {
			return msg
		}
	}
	return ""
}

// peerHosts maps each peer's peer address to its reported address on client relation id
// (HostToken).
func peerHosts(o Observed, id string) map[string]string {
	hosts := map[string]string{}
	for name, data := range o.Peers {
		rep, _ := ParseUnitReport(name, data)
		if h := ReportedHost(rep.Clients, id); rep.Address != "" && h != "" {
			hosts[rep.Address] = h
		}
	}
	return hosts
}

// serverView is what this unit tells every client about the application: its own
// state, and where the primary and the standbys are (from their peer reports).
func serverView(o Observed, primary string) Server {
	s := Server{Port: strconv.Itoa(o.Port), Version: o.Local.Version, SSLMode: SSLMode(o.TLSRequired)}
	switch {
	case o.Local.Standby:
		s.State = pgsql.StateStandby
		s.Standbys = append(s.Standbys, o.Address)
	case len(o.Peers) == 0:
		s.State = pgsql.StateStandalone
		s.Master = o.Address
	default:
		s.State = pgsql.StateMaster
		s.Master = o.Address
	}
	for name, data := range o.Peers {
		rep, _ := ParseUnitReport(name, data)
		if rep.Address == "" {
			continue
		}
		switch {
		case rep.Role == RolePrimary && name == primary:
			s.Master = rep.Address
		case rep.Role == RoleStandby:
			s.Standbys = append(s.Standbys, rep.Address)
		}
	}
	sort.Strings(s.Standbys)
	return s
}

// ParseSecretList reads "app=secret-id ..." (the client secrets in the application bag).
func ParseSecretList(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if app, id, ok := strings.Cut(f, "="); ok {
			out[app] = id
		}
	}
	return out
}

// FormatSecretList writes what ParseSecretList reads, sorted.
func FormatSecretList(ids map[string]string) string {
	var fs []string
	for app, id := range ids {
		fs = append(fs, app+"="+id)
	}
	sort.Strings(fs)
	return strings.Join(fs, " ")
}
