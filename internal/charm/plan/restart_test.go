package plan

import "testing"

func TestGrantRestart(t *testing.T) {
	all := map[string]bool{"pg/0": true, "pg/1": true, "pg/2": true}
	cases := []struct {
		name     string
		holder   string
		requests map[string]bool
		want     string
	}{
		{"nobody asks", "", nil, ""},
		{"one standby asks", "", map[string]bool{"pg/2": true}, "pg/2"},
		{"standbys before the primary", "", map[string]bool{"pg/0": true, "pg/2": true, "pg/1": true}, "pg/1"},
		{"primary last", "", map[string]bool{"pg/0": true}, "pg/0"},
		{"holder keeps the lock", "pg/0", map[string]bool{"pg/0": true, "pg/1": true}, "pg/0"},
		{"released lock passes on", "pg/1", map[string]bool{"pg/0": true, "pg/2": true}, "pg/2"},
		{"departed holder loses it", "pg/5", map[string]bool{"pg/5": true, "pg/2": true}, "pg/2"},
		{"departed requester is ignored", "", map[string]bool{"pg/7": true}, ""},
	}
	for _, c := range cases {
		if got := GrantRestart(c.holder, c.requests, all, "pg/0"); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// The race TestConfiguration (e2e) met with concurrent hooks: the leader, primary, applies
// a setting that needs a restart in its config-changed while its standby's config-changed
// has not yet published anything. The primary must not take the lock before the standby
// has applied the same options and restarted.
func TestPrimaryRestartWaitsForStandbysToApply(t *testing.T) {
	o := settledPrimary()
	o.Hook = "config-changed"
	o.NeedsRestart = true
	o.ConfigHash, o.Applied = "new", "new"
	o.Peers[unitB][KeyApplied] = "old"
	if d := Decide(o); d.App.RestartHolder != "" || d.Restart {
		t.Fatalf("the primary restarts before its standby applied the options: holder %q", d.App.RestartHolder)
	}
	// The standby applied them and asks: it goes first.
	o.Peers[unitB][KeyApplied], o.Peers[unitB][KeyRestart] = "new", "true"
	if d := Decide(o); d.App.RestartHolder != unitB {
		t.Fatalf("holder %q, want the standby", d.App.RestartHolder)
	}
	// It restarted and released: the primary's turn.
	o.AppBag.RestartHolder = unitB
	o.Peers[unitB][KeyRestart] = ""
	if d := Decide(o); d.App.RestartHolder != unitA {
		t.Fatalf("holder %q, want the primary", d.App.RestartHolder)
	}
	// A standby the agent cannot reach is not waited for.
	o.AppBag.RestartHolder = ""
	o.Peers[unitB][KeyApplied] = "old"
	o.Probes = map[string]Probe{unitB: {Reachable: false, Down: 30e9}}
	if d := Decide(o); d.App.RestartHolder != unitA {
		t.Fatalf("holder %q with an unreachable standby, want the primary", d.App.RestartHolder)
	}
}

func TestStandbysBehind(t *testing.T) {
	rep := func(role Role, applied string) UnitReport { return UnitReport{Role: role, Applied: applied} }
	cases := []struct {
		name    string
		reports map[string]UnitReport
		probes  map[string]Probe
		want    bool
	}{
		{"alone", map[string]UnitReport{"pg/0": rep(RolePrimary, "a")}, nil, false},
		{"standby applied", map[string]UnitReport{"pg/0": rep(RolePrimary, "a"), "pg/1": rep(RoleStandby, "a")}, nil, false},
		{"standby behind", map[string]UnitReport{"pg/0": rep(RolePrimary, "a"), "pg/1": rep(RoleStandby, "b")}, nil, true},
		{"stopped unit not waited for", map[string]UnitReport{"pg/0": rep(RolePrimary, "a"), "pg/1": rep(RoleNone, "b")}, nil, false},
		{"unreachable standby not waited for", map[string]UnitReport{"pg/0": rep(RolePrimary, "a"), "pg/1": rep(RoleStandby, "b")},
			map[string]Probe{"pg/1": {}}, false},
		{"reachable standby behind", map[string]UnitReport{"pg/0": rep(RolePrimary, "a"), "pg/1": rep(RoleStandby, "b")},
			map[string]Probe{"pg/1": {Reachable: true}}, true},
		{"no primary report", map[string]UnitReport{"pg/1": rep(RoleStandby, "b")}, nil, false},
	}
	for _, c := range cases {
		if got := StandbysBehind("pg/0", c.reports, c.probes); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
