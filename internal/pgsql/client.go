package pgsql

import (
	"net/netip"
	"strings"
)

// Ready applies the original interface's gating rules to one server unit's data: the
// connection details are complete, access covers every one of the client's egress
// subnets (or, from servers that predate subnets, the client unit is allowed by name),
// and the server echoes the database, roles and extensions asked for. Until then the
// client must not use the credentials: the server may not have granted access yet.
func Ready(req Request, clientUnit string, egress []netip.Prefix, server map[string]string) bool {
	for _, k := range []string{"host", "port", "database", "user", "password"} {
		if server[k] == "" {
			return false
		}
	}
	if allowed := server["allowed-subnets"]; allowed != "" {
		if !covers(ParsePrefixes(allowed), egress) {
			return false
		}
	} else if !containsField(server["allowed-units"], clientUnit) {
		return false
	}
	if req.Database != "" && server["database"] != req.Database {
		return false
	}
	return strings.Join(SplitList(server["roles"]), ",") == strings.Join(req.Roles, ",") &&
		strings.Join(SplitList(server["extensions"]), ",") == strings.Join(req.Extensions, ",")
}

func covers(allowed, egress []netip.Prefix) bool {
	if len(egress) == 0 {
		return false
	}
	for _, e := range egress {
		ok := false
		for _, a := range allowed {
			if a.Bits() <= e.Bits() && a.Contains(e.Addr()) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func containsField(list, item string) bool {
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == ',' }) {
		if f == item {
			return true
		}
	}
	return false
}
