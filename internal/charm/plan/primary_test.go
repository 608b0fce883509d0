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

		// Dying units and units whose storage went away are never chosen.
		{"fresh: a dying leader is not chosen", Group{Leader: a, Units: units(Unit{Name: a, Dying: true}, Unit{Name: b}), Expected: []string{a, b}},
			PrimaryChoice{Primary: b}},
		{"fresh: a leader without its storage is not chosen", Group{Leader: a, Units: units(Unit{Name: a, Detached: true}, Unit{Name: b}, Unit{Name: c}),
			Expected: []string{a, b, c}}, PrimaryChoice{Primary: b}},
		{"fresh: the only database is on a dying unit", Group{Leader: a,
			Units: units(Unit{Name: a}, Unit{Name: b, HasData: true, SystemID: "7", Dying: true}), Expected: []string{a, b}},
			PrimaryChoice{Primary: a}},
		{"fresh: the leader's database on its detached volume is not chosen", Group{Leader: a,
			Units:    units(Unit{Name: a, HasData: true, SystemID: "7", Detached: true}, Unit{Name: b, HasData: true, SystemID: "7", LSN: 5}),
			Expected: []string{a, b}}, PrimaryChoice{Primary: b}},
		{"fresh: every unit leaving", Group{Leader: a, Units: units(Unit{Name: a, Dying: true}, Unit{Name: b, Detached: true}), Expected: []string{a, b}},
			PrimaryChoice{Waiting: "No unit can be primary: every unit is leaving or lost its storage"}},
		{"switchover to a dying unit is ignored", Group{Leader: a, Primary: a, Switchover: b,
			Units: units(Unit{Name: a, HasData: true}, Unit{Name: b, HasData: true, Dying: true})}, PrimaryChoice{Primary: a}},
		{"a dying primary fails over to the most advanced measured standby", Group{Leader: a, Primary: c, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 5, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 9, Measured: true},
				Unit{Name: c, HasData: true, SystemID: "7", Role: RolePrimary, LSN: 99, Dying: true})},
			PrimaryChoice{Primary: b, Failover: true}},
		{"a detached primary fails over, never to itself", Group{Leader: a, Primary: c, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 5, Measured: true},
				Unit{Name: c, HasData: true, SystemID: "7", Detached: true, LSN: 99, Measured: true})},
			PrimaryChoice{Primary: a, Failover: true}},
		{"a dying candidate is never chosen on failover", Group{Leader: a, Primary: c, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 5, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 9, Measured: true, Dying: true})},
			PrimaryChoice{Primary: a, Failover: true}},
		{"a dying primary with no successor stays recorded", Group{Leader: a, Primary: a, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RolePrimary, Dying: true}, Unit{Name: b})},
			PrimaryChoice{Waiting: "Failover from " + a + ": no unit holds its database"}},

		// A primary whose data vanished is recognised by the application's system id.
		{"a primary reporting no database fails over to a unit that has it", Group{Leader: a, Primary: b, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby, LSN: 5, Measured: true}, Unit{Name: b})},
			PrimaryChoice{Primary: a, Failover: true}},
		{"a primary reporting no database, nobody else has it", Group{Leader: a, Primary: a, SystemID: "7",
			Units: units(Unit{Name: a}, Unit{Name: b})},
			PrimaryChoice{Waiting: "Failover from " + a + ": no unit holds its database"}},
		{"a primary that has not reported yet is not taken for lost", Group{Leader: a, Primary: b, SystemID: "7",
			Units: map[string]Unit{a: {Name: a, Reported: true, HasData: true, SystemID: "7"}, b: {Name: b}}},
			PrimaryChoice{Primary: b}},
		{"before the application has a database, a primary without one stays", Group{Leader: a, Primary: a,
			Units: units(Unit{Name: a}, Unit{Name: b})}, PrimaryChoice{Primary: a}},
		{"failover keeps to the recorded database over a standby of another", Group{Leader: a, Primary: c, SystemID: "7",
			Units: units(Unit{Name: a, HasData: true, SystemID: "9", Role: RoleStandby, LSN: 50, Measured: true},
				Unit{Name: b, HasData: true, SystemID: "7", LSN: 5, Measured: true})},
			PrimaryChoice{Primary: b, Failover: true}},
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

func TestPrimaryLost(t *testing.T) {
	const a, b = "postgresql/0", "postgresql/1"
	cases := []struct {
		name string
		g    Group
		want bool
	}{
		{"no primary yet", Group{Units: units(Unit{Name: a})}, false},
		{"present and serving", Group{Primary: a, SystemID: "7", Units: units(Unit{Name: a, HasData: true, SystemID: "7"})}, false},
		{"departed", Group{Primary: b, Units: units(Unit{Name: a})}, true},
		{"dying", Group{Primary: a, Units: units(Unit{Name: a, HasData: true, Dying: true})}, true},
		{"storage detached", Group{Primary: a, Units: units(Unit{Name: a, HasData: true, Detached: true})}, true},
		{"data vanished", Group{Primary: a, SystemID: "7", Units: units(Unit{Name: a})}, true},
		{"no data before the application had any", Group{Primary: a, Units: units(Unit{Name: a})}, false},
		{"not reported yet", Group{Primary: a, SystemID: "7", Units: map[string]Unit{a: {Name: a}}}, false},
	}
	for _, tc := range cases {
		if got := PrimaryLost(tc.g); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRecordSystemID(t *testing.T) {
	const a, b = "postgresql/0", "postgresql/1"
	serving := Unit{Name: a, HasData: true, SystemID: "7", Role: RolePrimary}
	for _, tc := range []struct {
		name, recorded string
		u              Unit
		chosen, want   string
	}{
		{"first primary serves", "", serving, a, "7"},
		{"a restore replaced the database", "5", serving, a, "7"},
		{"the chosen primary is not serving yet", "5", Unit{Name: a, HasData: true, SystemID: "7", Role: RoleStandby}, a, "5"},
		{"another unit serving is not the chosen one", "5", serving, b, "5"},
		{"no primary chosen", "", serving, "", ""},
		{"a primary without data never clears it", "5", Unit{Name: a, Role: RolePrimary}, a, "5"},
	} {
		if got := RecordSystemID(tc.recorded, tc.u, tc.chosen); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
