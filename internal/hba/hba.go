// Package hba is pg_hba.conf as data: the rules the charm admits connections by, the
// quoting that keeps a name from widening a rule, the check of user-written lines and the
// rendering of the whole file. It does no I/O, so the charm's pure decisions (plan) build
// rules with it; internal/postgres writes and loads the file.
package hba

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Keywords of the database and user columns of pg_hba.conf. A plain string
// in Rule.Database or Rule.User is always a name and is written
// double-quoted, so a database called "all" or "replication" can never widen
// a rule; these constants (which no name can equal: they start with a NUL
// byte) are written as the bare keywords.
const (
	All         = "\x00all"
	Replication = "\x00replication" // database column: physical replication connections
	SameUser    = "\x00sameuser"
	SameRole    = "\x00samerole"
)

// IdentMap is the pg_ident.conf map internal/postgres writes: it lets the hook,
// running as root, and the postgres OS user connect as the postgres
// role through the socket with peer authentication. No password is needed,
// and nothing else can connect as postgres locally.
const IdentMap = "juju"

// Rule is one pg_hba.conf line, or raw lines when Raw is set.
type Rule struct {
	Type     string // local, host, hostssl, hostnossl
	Database string // a name, or All / Replication / SameUser / SameRole
	User     string // a name, or All
	Address  string // IP or CIDR for host* types ("10.0.0.5" means /32, an IPv6 address /128)
	Method   string // scram-sha-256, md5, peer, reject, trust, cert, ...
	Options  string // auth options, e.g. "map=juju" or "clientcert=verify-full"
	// Raw, when set, is copied as is (the user's extra_pg_auth): the other
	// fields are ignored. Check the result with postgres.DB.HBAErrors.
	Raw string
}

var methods = map[string]bool{
	"trust": true, "reject": true, "scram-sha-256": true, "md5": true, "password": true,
	"gss": true, "sspi": true, "ident": true, "peer": true, "ldap": true, "radius": true,
	"cert": true, "pam": true, "bsd": true,
}

var optionsRE = regexp.MustCompile(`^([A-Za-z_]+=("[^"\n]*"|[^\s"]+)\s*)*$`)

// QuoteName double-quotes a database or role name for pg_hba.conf; an
// embedded double quote is doubled, as the pg_hba.conf tokenizer expects.
// Line breaks cannot be written and are refused.
func QuoteName(name string) (string, error) {
	switch name {
	case All, Replication, SameUser, SameRole:
		return name[1:], nil
	}
	if name == "" {
		return "", fmt.Errorf("empty name")
	}
	if strings.ContainsAny(name, "\n\r\x00") {
		return "", fmt.Errorf("name %q cannot be written in pg_hba.conf (it contains a line break)", name)
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`, nil
}

// Address normalises an IP address or CIDR for pg_hba.conf; a bare
// address becomes a single-host prefix.
func Address(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return "", fmt.Errorf("invalid address %q: %v", addr, err)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "", fmt.Errorf("invalid address %q: not an IP address or CIDR", addr)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// CheckRaw catches the usual mistakes in user-written pg_hba.conf lines
// (extra_pg_auth) before they reach the server, which would refuse to start
// with them: unknown connection types or methods, missing fields, bad
// addresses. Errors name the line. It is not a full parser; postgres.DB.HBAErrors
// has the server's word.
func CheckRaw(text string) error {
	for i, line := range strings.Split(text, "\n") {
		f, err := splitFields(line)
		if err != nil {
			return fmt.Errorf("pg_hba line %d (%s): %v", i+1, strings.TrimSpace(line), err)
		}
		if len(f) == 0 {
			continue
		}
		fail := func(format string, a ...any) error {
			return fmt.Errorf("pg_hba line %d (%s): %s", i+1, strings.TrimSpace(line), fmt.Sprintf(format, a...))
		}
		method := 3
		switch f[0] {
		case "local":
		case "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc":
			method = 4
			if len(f) > 3 {
				addr := f[3]
				switch {
				case addr == "all" || addr == "samehost" || addr == "samenet":
				case strings.Contains(addr, "/"):
					if _, err := netip.ParsePrefix(addr); err != nil {
						return fail("invalid address %q", addr)
					}
				default:
					if ip, err := netip.ParseAddr(addr); err == nil {
						// An address without a prefix length takes a netmask column.
						if len(f) > 4 {
							if _, err := netip.ParseAddr(f[4]); err != nil || ip.Is4() != strings.Contains(f[4], ".") {
								return fail("address %s needs a /prefix length or a netmask", addr)
							}
						}
						method = 5
					} else if strings.ContainsAny(addr, ":") {
						return fail("invalid address %q", addr)
					}
					// Otherwise a host name, which the server resolves.
				}
			}
		default:
			return fail("unknown connection type %q (local, host, hostssl or hostnossl)", f[0])
		}
		if len(f) <= method {
			return fail("missing fields (type, database, user, [address,] method)")
		}
		if !methods[f[method]] {
			return fail("unknown authentication method %q", f[method])
		}
		for _, opt := range f[method+1:] {
			if strings.HasPrefix(opt, "clientcert=") && f[0] != "hostssl" {
				return fail("clientcert only works on hostssl lines")
			}
		}
	}
	return nil
}

// Line renders the rule as pg_hba.conf text.
func (r Rule) Line() (string, error) {
	if r.Raw != "" {
		if err := CheckRaw(r.Raw); err != nil {
			return "", err
		}
		return strings.TrimRight(r.Raw, "\n"), nil
	}
	db, err := QuoteName(r.Database)
	if err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	user, err := QuoteName(r.User)
	if err != nil {
		return "", fmt.Errorf("user: %w", err)
	}
	if !methods[r.Method] {
		return "", fmt.Errorf("unknown authentication method %q", r.Method)
	}
	if !optionsRE.MatchString(r.Options) {
		return "", fmt.Errorf("invalid authentication options %q", r.Options)
	}
	fields := []string{r.Type, db, user}
	switch r.Type {
	case "local":
		if r.Address != "" {
			return "", fmt.Errorf("a local rule takes no address")
		}
	case "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc":
		a, err := Address(r.Address)
		if err != nil {
			return "", err
		}
		fields = append(fields, a)
	default:
		return "", fmt.Errorf("unknown connection type %q", r.Type)
	}
	fields = append(fields, r.Method)
	if r.Options != "" {
		fields = append(fields, strings.TrimSpace(r.Options))
	}
	return strings.Join(fields, "\t"), nil
}

// Render renders the whole pg_hba.conf: the hook's own socket access
// (postgres, through the juju ident map), the given rules in order, then a
// reject of every other connection, local or TCP, IPv4 or IPv6, SSL or not,
// to any database including replication.
func Render(rules []Rule) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Written by the PostgreSQL charm; changes are overwritten.\n")
	b.WriteString("# TYPE\tDATABASE\tUSER\tADDRESS\tMETHOD\n")
	fmt.Fprintf(&b, "local\tall\tpostgres\tpeer\tmap=%s\n", IdentMap)
	fmt.Fprintf(&b, "local\treplication\tpostgres\tpeer\tmap=%s\n", IdentMap)
	for i, r := range rules {
		line, err := r.Line()
		if err != nil {
			return nil, fmt.Errorf("pg_hba rule %d: %w", i+1, err)
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("# Everything else is refused.\n")
	for _, db := range []string{"all", "replication"} {
		fmt.Fprintf(&b, "local\t%s\tall\treject\n", db)
		for _, a := range []string{"0.0.0.0/0", "::/0"} {
			fmt.Fprintf(&b, "host\t%s\tall\t%s\treject\n", db, a)
		}
	}
	return []byte(b.String()), nil
}

// splitFields splits a pg_hba.conf line into fields: blanks separate them,
// double quotes group (a doubled quote is a literal one), # starts a
// comment outside quotes.
func splitFields(line string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			if inQuote && i+1 < len(line) && line[i+1] == '"' {
				cur.WriteByte('"')
				i++
				continue
			}
			inQuote = !inQuote
			have = true
		case inQuote:
			cur.WriteByte(c)
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t' || c == '\r':
			if have {
				fields = append(fields, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated double quote")
	}
	if have {
		fields = append(fields, cur.String())
	}
	return fields, nil
}
