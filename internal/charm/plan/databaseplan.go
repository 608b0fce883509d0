package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/pgclient"
)

// The database relations (postgresql_client interface) as one decision: the leader's
// credentials secrets (one per relation, the relations of one application sharing its
// user's password) and its answers, the primary's provisioning and revocations, what
// every serving unit reports, and which requests are refused. What the server holds and
// what the secrets contain is observed first.

// DatabasesFacts are what the hook observed of the database relations.
type DatabasesFacts struct {
	Clients []DatabaseClient
	Hosts   map[string]string            // relation id: this unit's ingress address on it
	Own     map[string]map[string]string // relation id: the application bag it answered (leader)
	// Secrets are the relations' credentials secrets as read; a secret listed in the
	// application bag that is gone (removed meanwhile) is not among them.
	Secrets map[string]DatabaseSecret
	// Server is what the local server holds for the requests; nil while it cannot be
	// asked (it does not run, or is neither the primary nor a standby with clients).
	Server *DatabaseServer
	// CACert is the application CA's certificate (PEM), offered to clients.
	CACert string
}

// DatabaseSecret is a relation's credentials secret.
type DatabaseSecret struct {
	URI     string
	Content map[string]string
}

// DatabaseServer is what the local server holds that bears on the requests.
type DatabaseServer struct {
	Claims     map[string]ClaimDecision
	Roles      map[string]RoleFacts // what each requested extra-user-role reaches
	LoginRoles []string             // the database relations' users that log in (primary)
}

// NewDatabaseSecret is a credentials secret the leader creates.
type NewDatabaseSecret struct {
	Client DatabaseClient
	// Password is the application's user's, when another of its relations has one;
	// "" for a new one.
	Password string
}

// DatabaseProvision is a request the primary provisions.
type DatabaseProvision struct {
	Client   DatabaseClient
	Password string
	Claim    ClaimDecision
	Token    string // reported once done
}

// DatabaseAnswer is what the leader answers on a relation and keeps in its secret.
type DatabaseAnswer struct {
	Client DatabaseClient
	Secret DatabaseSecret    // the credentials secret, with the content it is to hold
	Bag    map[string]string // the relation's application bag (secret-tls filled in by apply)
	TLS    map[string]string // the tls secret's content, when the client asked for TLS as a secret
}

// DatabasesPlan is the decision on the database relations.
type DatabasesPlan struct {
	// Refs are the credentials secrets the application bag lists, by relation (leader);
	// nil when they stay as they are.
	Refs          map[string]string
	CreateSecrets []NewDatabaseSecret
	RemoveSecrets []string // URIs of the secrets of relations that are gone
	Refused       []string
	Provision     []DatabaseProvision
	Tokens        []string // reported to the peers
	Revoke        []string // users whose application has no database relation left (primary)
	Answers       []DatabaseAnswer
}

// decideDatabases decides the database relations for a unit, given the chosen primary
// and whether it serves as it.
func decideDatabases(o Observed, app AppState, isPrimary bool) DatabasesPlan {
	f := o.Databases
	var p DatabasesPlan
	if o.Leader && o.Peered() {
		p.Refs, p.CreateSecrets, p.RemoveSecrets = databaseSecrets(f, app)
	}
	for _, c := range f.Clients {
		if c.Problem != "" {
			p.Refused = append(p.Refused, c.ID+": "+c.Problem)
		}
	}
	l, s := o.Local, f.Server
	if l.Running && s != nil && (isPrimary || (l.Standby && len(f.Clients) > 0)) {
		for _, c := range f.Clients {
			if !c.Admit || c.Problem != "" {
				continue
			}
			if msg := s.Claims[c.ID].Problem; msg != "" {
				p.Refused = append(p.Refused, c.ID+": "+msg)
				continue
			}
			if msg := checkExtraRoles(c.Roles, s.Roles); msg != "" {
				p.Refused = append(p.Refused, c.ID+": "+msg)
				continue
			}
			host := f.Hosts[c.ID]
			if !isPrimary {
				p.Tokens = append(p.Tokens, c.StandbyToken(host))
				continue
			}
			pw := f.Secrets[c.ID].Content[pgclient.FieldPassword]
			if pw == "" {
				continue // the leader creates its credentials
			}
			p.Provision = append(p.Provision, DatabaseProvision{Client: c, Password: pw, Claim: s.Claims[c.ID],
				Token: c.Token() + "@" + host})
		}
		if isPrimary {
			p.Revoke = StaleDatabaseUsers(s.LoginRoles, f.Clients)
		}
	}
	if o.Leader {
		self := p.Tokens
		for _, v := range p.Provision {
			self = append(self, v.Token)
		}
		p.Answers = databaseAnswers(o, app.Primary, self)
	}
	return p
}

// databaseSecrets are the leader's changes to the credentials secrets: one for every
// admitted request that has none, with the password of its application's other
// relations, and none for relations that are gone. Refs is nil when nothing changes.
func databaseSecrets(f DatabasesFacts, app AppState) (refs map[string]string, create []NewDatabaseSecret, remove []string) {
	listed := ParseSecretRefs(app.DatabaseSecrets)
	refs = map[string]string{}
	live, byApp := map[string]bool{}, map[string]string{}
	for _, c := range f.Clients {
		live[c.ID] = true
		if s, ok := f.Secrets[c.ID]; ok {
			refs[c.ID] = s.URI
			if byApp[c.App] == "" {
				byApp[c.App] = s.Content[pgclient.FieldPassword]
			}
		}
	}
	changed := false
	for id, uri := range listed {
		switch _, read := f.Secrets[id]; {
		case !live[id]:
			remove = append(remove, uri)
			changed = true
		case !read:
			changed = true // gone meanwhile: a new one is made
		}
	}
	for _, c := range f.Clients {
		if _, ok := f.Secrets[c.ID]; ok || !c.Admit || c.Problem != "" {
			continue
		}
		create = append(create, NewDatabaseSecret{Client: c, Password: byApp[c.App]})
	}
	if !changed && len(create) == 0 {
		return nil, create, remove
	}
	return refs, create, remove
}

// checkExtraRoles refuses roles that do not exist (the database relation never creates
// them) and roles that reach past a group's privileges.
func checkExtraRoles(names []string, facts map[string]RoleFacts) string {
	for _, role := range names {
		f := facts[role]
		if !f.Exists {
			return fmt.Sprintf("extra-user-roles: role %q does not exist on this server", role)
		}
		if msg := CheckRole(f); msg != "" {
			return "extra-user-roles: " + msg
		}
	}
	return ""
}

// databaseAnswers are the leader's answers: for every relation whose request the primary
// reports it provisioned (the leader's own report being what it provisions and reports in
// this hook, self), its endpoints (the primary), read-only endpoints (the standbys)
// and version, the credentials in its secret, and TLS as the client asked for it.
func databaseAnswers(o Observed, primary string, self []string) []DatabaseAnswer {
	f := o.Databases
	reports := map[string]string{o.Unit: strings.Join(self, " ")}
	var standbys []string
	for _, name := range sortedKeys(o.Peers) {
		rep, _ := ParseUnitReport(name, o.Peers[name])
		reports[name] = rep.Clients
		if rep.Role == RoleStandby {
			standbys = append(standbys, name)
		}
	}
	if o.Local.Standby {
		standbys = append(standbys, o.Unit)
	}
	var out []DatabaseAnswer
	for _, c := range f.Clients {
		s, ok := f.Secrets[c.ID]
		if !c.Admit || c.Problem != "" || !ok {
			continue
		}
		if len(c.Subnets) == 0 {
			// None of its units has joined with an address yet, so pg_hba admits none:
			// a client tries what it is given when it arrives, and would get a refusal.
			// (Juju may run the client's relation-changed for these writes before this unit
			// sees its units join.)
			continue
		}
		h := HostsFor(c, primary, reports, standbys)
		if !h.Provisioned {
			continue
		}
		pw := s.Content[pgclient.FieldPassword]
		offer := TLSOffer(c.Offer(h, strconv.Itoa(o.Port), o.Local.FullVersion, pw), o.TLSRequired, f.CACert)
		bag, secret := offer.Split(c.Request)
		fields, tlsSecret := offer.SplitTLS(c.Request)
		for k, v := range fields {
			bag[k] = v
		}
		bag[pgclient.KeySecretTLS] = ""
		a := DatabaseAnswer{Client: c, Secret: DatabaseSecret{URI: s.URI, Content: SecretContent(secret, c.User, pw)}, Bag: bag}
		if len(tlsSecret) > 0 {
			a.TLS = tlsSecret
		}
		if c.Request.SecretsKnown {
			bag[pgclient.KeySecretUser] = s.URI
		}
		out = append(out, a)
	}
	return out
}
