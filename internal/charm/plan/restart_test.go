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
