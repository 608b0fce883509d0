package pgsql

import (
	"sort"
	"strings"
)

// ConnString is a libpq keyword/value connection string, rendered as the original
// interface did: keys sorted, joined by spaces, values quoted only when they must be.
type ConnString map[string]string

// String renders the connection string; an empty one renders as "".
func (c ConnString) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+quote(c[k]))
	}
	return strings.Join(parts, " ")
}

// quote applies libpq's rules: single quotes around values that are empty or hold
// spaces, quotes or backslashes, with ' and \ escaped by a backslash.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// ParseConnString reads a keyword/value connection string written by String (and by
// the original charm), undoing the quoting.
func ParseConnString(s string) ConnString {
	c := ConnString{}
	i := 0
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
			i++
		} else {
			for i < len(s) && s[i] != ' ' {
				val.WriteByte(s[i])
				i++
			}
		}
		c[key] = val.String()
	}
	return c
}

// Conn builds a unit's connection string for a client.
func Conn(host, port, dbname, user, password string) ConnString {
	return ConnString{"dbname": dbname, "host": host, "port": port, "user": user, "password": password}
}
