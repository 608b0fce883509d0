package charm

import (
	"testing"

	"github.com/pgcharm/postgresql/internal/charm/plan"
)

// The unit's status is the final decision's findings with what only acting found out, in
// plan.UnitStatus's precedence: "why is my unit blocked?" has one answer.
func TestApplyStatus(t *testing.T) {
	active := plan.Desired{Why: plan.StatusFacts{Local: plan.Status{Name: plan.StatusActive, Message: "Live master (16.4)"},
		Refused: []string{"db:1: no"}, Restart: true}}
	wait := plan.Status{Name: plan.StatusWaiting, Message: "Not promoting yet"}
	cases := []struct {
		name  string
		found found
		d     plan.Desired
		want  plan.Status
	}{
		{"the decision alone", found{settled: true}, plan.Desired{Why: plan.StatusFacts{Local: active.Why.Local, Restart: true}},
			plan.Status{Name: plan.StatusWaiting, Message: "Waiting for permission to restart"}},
		{"the restart lock only once settled", found{}, plan.Desired{Why: plan.StatusFacts{Local: active.Why.Local, Restart: true}},
			active.Why.Local},
		{"refusals from the decision and from provisioning", found{refused: []string{"db:2: the server refused"}}, active,
			plan.Status{Name: plan.StatusBlocked, Message: "Refused db:1: no; db:2: the server refused"}},
		{"the server refuses a setting", found{serverConfig: "extra_pg_conf: bad"}, active,
			plan.Status{Name: plan.StatusBlocked, Message: "extra_pg_conf: bad"}},
		{"a step that waits", found{wait: &wait}, plan.Desired{Why: plan.StatusFacts{Local: plan.Status{Name: plan.StatusMaintenance, Message: "Promoting"}}},
			wait},
	}
	for _, tc := range cases {
		r := &applying{found: tc.found}
		if got := r.status(tc.d); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if len(active.Why.Refused) != 1 {
		t.Errorf("status changed the decision's findings: %v", active.Why.Refused)
	}
}
