package plan

import "testing"

func units(us ...Unit) map[string]Unit {
	m := map[string]Unit{}
	for _, u := range us {
		u.Reported = true
		m[u.Name] = u
	}
	return m
}

func TestChoosePrimary(t *testing.T) {
	const a, b, c = "postgresql/0", "postgresql/1", "postgresql/2"
	cases := []struct {
		name string
		g    Group
		want PrimaryChoice
	}{
		{"fresh application: the leader", Group{Leader: a, Units: units(Unit{Name: a}, Unit{Name: b}), Expected: []string{a, b}},
			PrimaryChoice{Primary: a}},
		{"fresh, a unit has not reported yet", Group{Leader: a, Units: units(Unit{Name: a}), Expected: []string{a, b}},
			PrimaryChoice{Waiting: "Waiting for " + b + " to report its storage"}},
		{"fresh, a unit present but silent", Group{Leader: a, Units: map[string]Unit{a: {Name: a, Reported: true}, b: {Name: b}}, Expected: []string{a, b}},
			PrimaryChoice{Waiting: "Waiting for " + b + " to report its storage"}},
		{"fresh, only another unit's storage holds a database", Group{Leader: a,
			Units: units(Unit{Name: a}, Unit{Name: b, HasData: true, SystemID: "7"}), Expected: []string{a, b}},
			PrimaryChoice{Primary: b}},
		{"fresh, leader and another hold the same database, leader ahead", Group{Leader: a,
			Units:    units(Unit{Name: a, HasData: true, SystemID: "7", Timeline: 1, LSN: 900}, Unit{Name: b, HasData: true, SystemID: "7", Timeline: 1, LSN: 800}),
			Expected: []string{a, b}}, PrimaryChoice{Primary: a}},
		{"fresh, same database, the other is ahead", Group{Leader: a,
			Units:    units(Unit{Name: a, HasData: true, SystemID: "7", Timeline: 1, LSN: 800}, Unit{Name: b, HasData: true, SystemID: "7", Timeline: 2, LSN: 10}),
			Expected: []string{a, b}}, PrimaryChoice{Primary: b}},
		{"fresh, the leader's database wins over a foreign one ahead of it", Group{Leader: a,
			Units:    units(Unit{Name: a, HasData: true, SystemID: "7", Timeline: 1, LSN: 5}, Unit{Name: b, HasData: true, SystemID: "9", Timeline: 3, LSN: 900}),
			Expected: []string{a, b}}, PrimaryChoice{Primary: a}},
		{"fresh, two others with data: most advanced", Group{Leader: a,
			Units: units(Unit{Name: a}, Unit{Name: b, HasData: true, SystemID: "7", Timeline: 1, LSN: 100},
				Unit{Name: c, HasData: true, SystemID: "7", Timeline: 1, LSN: 200}), Expected: []string{a, b, c}},
			PrimaryChoice{Primary: c}},
		{"fresh, equal data: lowest unit number", Group{Leader: a,
			Units: units(Unit{Name: a}, Unit{Name: c, HasData: true, SystemID: "7", Timeline: 1, LSN: 100},
				Unit{Name: b, HasData: true, SystemID: "7", Timeline: 1, LSN: 100}), Expected: []string{a, b, c}},
			PrimaryChoice{Primary: b}},
		{"recorded primary present stays", Group{Leader: a, Primary: b,
			Units: units(Unit{Name: a, HasData: true, Timeline: 9, LSN: 999}, Unit{Name: b, HasData: true}), Expected: []string{a, b}},
			PrimaryChoice{Primary: b}},
		{"recorded primary stays even while others have not reported", Group{Leader: a, Primary: a,
			Units: units(Unit{Name: a, HasData: true}), Expected: []string{a, b, c}}, PrimaryChoice{Primary: a}},
		{"switchover to a present unit with data", Group{Leader: a, Primary: a, Switchover: b,
			Units: units(Unit{Name: a, HasData: true}, Unit{Name: b, HasData: true})}, PrimaryChoice{Primary: b}},
		{"switchover to a unit without data is ignored", Group{Leader: a, Primary: a, Switchover: b,
			Units: units(Unit{Name: a, HasData: true}, Unit{Name: b})}, PrimaryChoice{Primary: a}},
		{"switchover to a departed unit is ignored", Group{Leader: a, Primary: a, Switchover: c,
			Units: units(Unit{Name: a, HasData: true}, Unit{Name: b, HasData: true})}, PrimaryChoice{Primary: a}},
		{"failover: most advanced measured standby", Group{Leader: a, Primary: c,
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 500, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 700, Measured: true})},
			PrimaryChoice{Primary: b, Failover: true}},
		{"failover: higher timeline beats higher LSN", Group{Leader: a, Primary: c,
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 2, LSN: 5, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 700, Measured: true})},
			PrimaryChoice{Primary: a, Failover: true}},
		{"failover: tie goes to the leader", Group{Leader: b, Primary: c,
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 5, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 5, Measured: true})},
			PrimaryChoice{Primary: b, Failover: true}},
		{"failover: waits for a measurement, never trusts stale data", Group{Leader: a, Primary: c,
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 700})},
			PrimaryChoice{Waiting: "Failover from " + c + ": waiting to measure " + b}},
		{"failover: a unit holding another database is never a candidate", Group{Leader: a, Primary: c,
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, Timeline: 1, LSN: 5, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "9", Timeline: 5, LSN: 700, Measured: true})},
			PrimaryChoice{Primary: a, Failover: true}},
		{"failover: units without data are never candidates", Group{Leader: a, Primary: c,
			Units: units(Unit{Name: a, Measured: true}, Unit{Name: b, Measured: true})},
			PrimaryChoice{Waiting: "Failover from " + c + ": no unit holds its database"}},
		{"failover: nobody left", Group{Leader: a, Primary: c, Units: map[string]Unit{}},
			PrimaryChoice{Waiting: "Failover from " + c + ": no unit left"}},
	}
	for _, tc := range cases {
		if got := ChoosePrimary(tc.g); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestUnitNumber(t *testing.T) {
	for in, want := range map[string]int{"pg/0": 0, "pg/12": 12, "remote-abc/3": 3, "pg": -1, "pg/x": -1} {
		if got := UnitNumber(in); got != want {
			t.Errorf("UnitNumber(%q) = %d, want %d", in, got, want)
		}
	}
}
