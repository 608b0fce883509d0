package plan

import "testing"

// Every hook a unit meets on its way out, in Juju 3.6's order (worker/uniter/resolver.go:
// storage-detaching first, then relations, then stop and remove), and the storage cases.
func TestTeardown(t *testing.T) {
	const me, other = "postgresql/1", "postgresql/2"
	attached := TeardownFacts{Unit: me, Storage: "/srv/pgdata", HadStorage: "pgdata/3"}
	leaving := Status{StatusMaintenance, "Leaving: PostgreSQL stopped"}
	detaching := Status{StatusBlocked, "pgdata storage detaching: PostgreSQL stopped; the data stays on the volume"}
	detached := Status{StatusBlocked, "pgdata storage pgdata/3 is detached: PostgreSQL stopped; attach it again with juju attach-storage postgresql/1 pgdata/3"}
	with := func(f func(*TeardownFacts)) TeardownFacts { c := attached; f(&c); return c }
	cases := []struct {
		name string
		f    TeardownFacts
		stop bool
		want Status
	}{
		{"a settled unit carries on", with(func(f *TeardownFacts) { f.Hook = "update-status" }), false, Status{}},
		{"a unit that never had storage carries on (it waits for one)", TeardownFacts{Unit: me, Hook: "install"}, false, Status{}},
		{"storage attaching for the first time", with(func(f *TeardownFacts) { f.Hook = "pgdata-storage-attached"; f.HadStorage = "" }), false, Status{}},
		{"storage-detaching of a dying unit", with(func(f *TeardownFacts) { f.Hook = "pgdata-storage-detaching"; f.Storage = ""; f.Dying = true }), true, leaving},
		{"storage-detaching of a live unit (detach-storage)", with(func(f *TeardownFacts) { f.Hook = "pgdata-storage-detaching"; f.Storage = "" }), true, detaching},
		{"storage-detaching while the location is still listed", with(func(f *TeardownFacts) { f.Hook = "pgdata-storage-detaching" }), true, detaching},
		{"any hook of a dying unit", with(func(f *TeardownFacts) { f.Hook = "db-relation-departed"; f.Dying = true; f.Storage = "" }), true, leaving},
		{"config-changed of a dying unit", with(func(f *TeardownFacts) { f.Hook = "config-changed"; f.Dying = true }), true, leaving},
		{"peer departed of the leaving unit itself", with(func(f *TeardownFacts) { f.Hook = "replication-relation-departed"; f.Departing = me }), true, leaving},
		{"peer broken of the leaving unit itself", with(func(f *TeardownFacts) { f.Hook = "replication-relation-broken"; f.Departing = me }), true, leaving},
		{"another unit departing carries on", with(func(f *TeardownFacts) { f.Hook = "replication-relation-departed"; f.Departing = other }), false, Status{}},
		{"stop", with(func(f *TeardownFacts) { f.Hook = "stop" }), true, leaving},
		{"stop without storage", with(func(f *TeardownFacts) { f.Hook = "stop"; f.Storage = "" }), true, leaving},
		{"remove", with(func(f *TeardownFacts) { f.Hook = "remove"; f.Storage = "" }), true, leaving},
		{"storage gone after detach-storage", with(func(f *TeardownFacts) { f.Hook = "update-status"; f.Storage = "" }), true, detached},
		{"storage gone after a reboot without the volume", with(func(f *TeardownFacts) { f.Hook = "start"; f.Storage = "" }), true, detached},
		{"storage attached again", with(func(f *TeardownFacts) { f.Hook = "pgdata-storage-attached" }), false, Status{}},
	}
	for _, tc := range cases {
		stop, got := Teardown(tc.f)
		if stop != tc.stop || got != tc.want {
			t.Errorf("%s: got %v %+v, want %v %+v", tc.name, stop, got, tc.stop, tc.want)
		}
	}
}
