package pgsql

import (
	"fmt"
	"sort"
	"strings"
)

// Services names a client's connections the way the original client charm did, for
// psql service=NAME: <endpoint>_master and <endpoint>_<n> for the n-th standby, and the
// same under the relation id (db:0_master, db:0_1) for charms with several relations.
func Services(endpoint, relationID string, master ConnString, standbys []ConnString) map[string]ConnString {
	out := map[string]ConnString{}
	sb := append([]ConnString(nil), standbys...)
	sort.Slice(sb, func(i, j int) bool { return sb[i]["host"] < sb[j]["host"] })
	for _, prefix := range []string{endpoint, relationID} {
		if len(master) > 0 {
			out[prefix+"_master"] = master
		}
		for i, s := range sb {
			out[fmt.Sprintf("%s_%d", prefix, i+1)] = s
		}
	}
	return out
}

// ServiceFile renders a pg_service.conf, sections sorted by name.
func ServiceFile(services map[string]ConnString) string {
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "[%s]\n", n)
		c := services[n]
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, c[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}
