package plan

import (
	"reflect"
	"testing"
)

func TestReportedHost(t *testing.T) {
	c := Client{ID: "db:4"}
	report := Tokens([]string{c.Provisioned("198.18.1.2"), c.HostToken("198.18.1.2"), Client{ID: "db:14"}.HostToken("10.0.0.9")})
	if got := ReportedHost(report, "db:4"); got != "198.18.1.2" {
		t.Errorf("ReportedHost db:4 = %q", got)
	}
	if got := ReportedHost(report, "db:1"); got != "" {
		t.Errorf("ReportedHost of an unreported relation = %q", got)
	}
	if _, ok := ProvisionedAt(c.HostToken("x"), c); ok {
		t.Error("a host token reads as provisioned")
	}
}

// TestAcross: a unit publishes the others at their addresses on the relation, and across
// models leaves out a standby that has not reported one (its peer address would not reach
// the client).
func TestAcross(t *testing.T) {
	view := Server{State: "master", Master: "10.0.0.2", Standbys: []string{"10.0.0.3", "10.0.0.4"}}
	for _, tc := range []struct {
		name  string
		own   [2]string // peer address, relation address
		hosts map[string]string
		want  Server
	}{
		{"local relation, nothing reported", [2]string{"10.0.0.2", "10.0.0.2"}, nil,
			Server{State: "master", Host: "10.0.0.2", Master: "10.0.0.2", Standbys: []string{"10.0.0.3", "10.0.0.4"}}},
		{"cross-model, all reported", [2]string{"10.0.0.2", "198.18.0.2"}, map[string]string{"10.0.0.3": "198.18.0.3", "10.0.0.4": "198.18.0.4"},
			Server{State: "master", Host: "198.18.0.2", Master: "198.18.0.2", Standbys: []string{"198.18.0.3", "198.18.0.4"}}},
		{"cross-model, one not yet reported", [2]string{"10.0.0.2", "198.18.0.2"}, map[string]string{"10.0.0.4": "198.18.0.4"},
			Server{State: "master", Host: "198.18.0.2", Master: "198.18.0.2", Standbys: []string{"198.18.0.4"}}},
		{"a standby, the primary reported", [2]string{"10.0.0.3", "198.18.0.3"}, map[string]string{"10.0.0.2": "198.18.0.2"},
			Server{State: "master", Host: "198.18.0.3", Master: "198.18.0.2", Standbys: []string{"198.18.0.3"}}},
	} {
		got := view.For(tc.own[0], tc.own[1]).Across(tc.own[0] != tc.own[1], tc.hosts)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
