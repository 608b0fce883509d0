package plan

import (
	"reflect"
	"testing"
)

const (
	unitA, unitB, unitC = "postgresql/0", "postgresql/1", "postgresql/2"
	caFP                = "ca-fingerprint"
)

// settledPrimary is the leader of a settled two-unit application, serving as primary.
func settledPrimary() Observed {
	return Observed{
		Unit: unitA, App: "postgresql", Hook: "update-status", Leader: true, PeerRelation: "replication:0",
		Peers: map[string]map[string]string{unitB: {KeyAddress: "10.0.0.2", KeyRole: "standby", KeyHasData: "true", KeyTimeline: "1",
			KeySystemID: "7", KeyFollowing: unitA, KeyAdmits: unitA}},
		Self:    map[string]string{KeyAddress: "10.0.0.1", KeyRole: "primary", KeyHasData: "true", KeySystemID: "7", KeyAdmits: unitB},
		AppBag:  AppState{Primary: unitA, SecretID: "secret:1", SystemID: "7", CA: caFP},
		Storage: "/srv/pgdata", StorageID: "pgdata/0", HadStorage: "pgdata/0",
		Version:    VersionFacts{Major: "16", Fixed: true, Installed: true},
		Local:      Local{Self: unitA, Version: "16", FullVersion: "16.4", DataVersion: "16", HasData: true, SystemID: "7", Running: true, Timeline: 1, LSN: 900},
		Configured: true,
		Secret:     SecretFacts{Password: true, CA: caFP},
	}
}

// settledStandby is the other unit of that application.
func settledStandby() Observed {
	return Observed{
		Unit: unitB, App: "postgresql", Hook: "update-status", PeerRelation: "replication:0",
		Peers: map[string]map[string]string{unitA: {KeyAddress: "10.0.0.1", KeyRole: "primary", KeyHasData: "true",
			KeySystemID: "7", KeyTimeline: "1", KeyAdmits: unitB}},
		Self:    map[string]string{KeyAddress: "10.0.0.2", KeyRole: "standby", KeyHasData: "true", KeySystemID: "7", KeyFollowing: unitA, KeyAdmits: unitA},
		AppBag:  AppState{Primary: unitA, SecretID: "secret:1", SystemID: "7", CA: caFP},
		Storage: "/srv/pgdata", StorageID: "pgdata/1", HadStorage: "pgdata/1",
		Version: VersionFacts{Major: "16", Fixed: true, Installed: true},
		Local: Local{Self: unitB, Version: "16", FullVersion: "16.4", DataVersion: "16", HasData: true, SystemID: "7", Running: true,
			Standby: true, Timeline: 1, LSN: 880, Following: unitA},
		Configured: true,
		Secret:     SecretFacts{Password: true, CA: caFP},
	}
}

func TestDecideSettled(t *testing.T) {
	d := Decide(settledPrimary())
	if d.Step != StepNone || !d.IsPrimary || d.Primary != unitA || d.Status != (Status{StatusActive, "Live master (16.4)"}) {
		t.Errorf("settled primary: %+v", d)
	}
	if d.App != settledPrimary().AppBag {
		t.Errorf("settled primary rewrites the application bag: %+v", d.App)
	}
	if d.Setup != (Setup{}) || d.Secret != (SecretAction{}) || d.Halt || d.Hold || d.Teardown || d.Announce {
		t.Errorf("settled primary does more than nothing: %+v", d)
	}
	s := Decide(settledStandby())
	if s.Step != StepNone || s.IsPrimary || s.Status != (Status{StatusActive, "Live secondary (16.4)"}) {
		t.Errorf("settled standby: %+v", s)
	}
}

// Every teardown case of TestTeardown reaches Decide before any option, the version or
// the secret is looked at, and decides nothing else: a dying unit or one without its
// storage never creates, clones or starts a cluster, whatever the configuration holds.
func TestDecideTeardownComesFirst(t *testing.T) {
	cases := []struct {
		name string
		f    func(*Observed)
		bag  map[string]string
	}{
		{"storage-detaching of a live unit", func(o *Observed) { o.Hook = "pgdata-storage-detaching"; o.Storage = "" },
			map[string]string{KeyRole: "", KeyDetached: "true"}},
		{"storage-detaching of a dying unit with a bad option", func(o *Observed) {
			o.Hook = "pgdata-storage-detaching"
			o.Storage, o.Dying, o.ConfigProblem = "", true, "extra_pg_conf: bad"
		}, map[string]string{KeyRole: "", KeyDetached: "true"}},
		{"any hook of a dying unit", func(o *Observed) { o.Hook = "db-relation-departed"; o.Dying = true; o.Storage = "" },
			map[string]string{KeyRole: "", KeyDetached: "true"}},
		{"config-changed of a dying unit, storage still there", func(o *Observed) { o.Hook = "config-changed"; o.Dying = true },
			map[string]string{KeyRole: ""}},
		{"peer departed of the leaving unit", func(o *Observed) { o.Hook = "replication-relation-departed"; o.Departing = o.Unit },
			map[string]string{KeyRole: ""}},
		{"stop", func(o *Observed) { o.Hook = "stop" }, map[string]string{KeyRole: ""}},
		{"remove without storage", func(o *Observed) { o.Hook = "remove"; o.Storage = "" },
			map[string]string{KeyRole: "", KeyDetached: "true"}},
		{"storage gone after a reboot, a different version asked for", func(o *Observed) {
			o.Hook, o.Storage, o.Version.Option = "start", "", "14"
		}, map[string]string{KeyRole: "", KeyDetached: "true"}},
		{"stop before the peer relation exists", func(o *Observed) { o.Hook = "stop"; o.PeerRelation = "" }, nil},
		{"stop again, the bag says so already", func(o *Observed) {
			o.Hook = "stop"
			o.Self = map[string]string{KeyRole: "", KeyHasData: "true"}
		}, nil},
	}
	for _, mk := range []func() Observed{settledPrimary, settledStandby} {
		for _, tc := range cases {
			o := mk()
			tc.f(&o)
			d := Decide(o)
			_, want := Teardown(TeardownFacts{Unit: o.Unit, Hook: o.Hook, Dying: o.Dying, Storage: o.Storage,
				HadStorage: o.HadStorage, Departing: o.Departing})
			if !d.Teardown || d.Status != want || !reflect.DeepEqual(d.TeardownBag, tc.bag) {
				t.Errorf("%s (%s): got teardown %v status %+v bag %v, want %+v %v", tc.name, o.Unit, d.Teardown, d.Status, d.TeardownBag, want, tc.bag)
			}
			if d.Step != StepNone || d.Setup != (Setup{}) || d.Secret != (SecretAction{}) || d.App != (AppState{}) {
				t.Errorf("%s (%s): a unit tearing down decides more: %+v", tc.name, o.Unit, d)
			}
		}
	}
}

func TestDecideHalts(t *testing.T) {
	o := settledPrimary()
	o.ConfigProblem = "max_connections: must be at least 10"
	if d := Decide(o); !d.Halt || d.Status != (Status{StatusBlocked, o.ConfigProblem}) || d.Setup != (Setup{}) || d.Step != StepNone {
		t.Errorf("bad option: %+v", d)
	}
	o = settledPrimary()
	o.Version.Option = "14"
	want := "version: this unit runs PostgreSQL 16 and cannot change in place; set version back to 16 or empty"
	if d := Decide(o); !d.Halt || d.Status != (Status{StatusBlocked, want}) || d.Setup != (Setup{}) {
		t.Errorf("version change: %+v", d)
	}
	o = settledPrimary()
	o.Version.Option = "16"
	if d := Decide(o); d.Halt {
		t.Errorf("the version it runs asked for: %+v", d)
	}
	o = settledPrimary()
	o.ConfFile = "postgresql.conf sets data_directory elsewhere"
	o.StorageClosed, o.StaleRestore = true, true
	if d := Decide(o); !d.Halt || d.Status != (Status{StatusBlocked, o.ConfFile}) || !d.Setup.OpenStorage || d.Setup.RemoveStaleRestore {
		t.Errorf("edited postgresql.conf: %+v", d)
	}
}

func TestDecideSetup(t *testing.T) {
	o := Observed{Unit: unitA, Hook: "install", Leader: true, Version: VersionFacts{Major: "16"},
		Storage: "/srv/pgdata", StorageID: "pgdata/0", StorageClosed: true, Local: Local{Self: unitA, Version: "16"}}
	d := Decide(o)
	want := Setup{Install: "16", RecordVersion: "16", RecordStorage: "pgdata/0", OpenStorage: true}
	if d.Setup != want {
		t.Errorf("install: setup %+v, want %+v", d.Setup, want)
	}
	// Before the peer relation exists the leader cannot name a secret: it waits.
	if d.Secret.Create || !d.Hold || d.Status != (Status{StatusWaiting, msgNoSecret}) {
		t.Errorf("install before the peer relation: %+v", d)
	}
	o = settledPrimary()
	o.StaleRestore, o.DataDirUnrecorded = true, true
	if d := Decide(o); !d.Setup.RemoveStaleRestore || !d.Setup.RecordDataDir {
		t.Errorf("stale restore record, unrecorded data directory: %+v", d.Setup)
	}
}

func TestDecideSecret(t *testing.T) {
	o := settledPrimary()
	o.AppBag.SecretID, o.Secret = "", SecretFacts{}
	if d := Decide(o); !d.Secret.Create || !d.Hold || d.Step != StepNone || d.Status != (Status{StatusWaiting, msgNoSecret}) {
		t.Errorf("leader without a secret: %+v", d)
	}
	o.Leader = false
	if d := Decide(o); d.Secret.Create || !d.Hold {
		t.Errorf("non-leader without a secret: %+v", d)
	}
	o = settledPrimary()
	o.Secret.CA = ""
	if d := Decide(o); !d.Secret.AddCA || d.Secret.Create || !d.Hold || d.Status != (Status{StatusWaiting, msgNoCA}) {
		t.Errorf("leader, secret without a CA: %+v", d)
	}
	s := settledStandby()
	s.Secret.CA = ""
	if d := Decide(s); d.Secret.AddCA || !d.Hold || d.Status != (Status{StatusWaiting, msgNoCA}) {
		t.Errorf("standby, secret without a CA: %+v", d)
	}
	// The leader names the CA it found in the bag.
	o = settledPrimary()
	o.AppBag.CA = ""
	if d := Decide(o); d.App.CA != caFP {
		t.Errorf("leader does not record the CA: %+v", d.App)
	}
}

// The leader gets relation-changed for its own writes (Juju 3.6), and any unit may be
// half-way through a hook while it decides: deciding again on what it wrote must write
// nothing new.
func TestDecideLeaderWritesAreIdempotent(t *testing.T) {
	fresh := settledPrimary()
	fresh.AppBag = AppState{SecretID: "secret:1"}
	fresh.Self = map[string]string{}
	fresh.Local = Local{Self: unitA, Version: "16"}
	fresh.Configured = false
	fresh.Expected = []string{unitA, unitB}
	fresh.Peers[unitB] = map[string]string{KeyAddress: "10.0.0.2", KeyHasData: "false", KeyRestart: ""}
	restart := settledPrimary()
	restart.NeedsRestart = true
	restart.Peers[unitB][KeyRestart] = "true"
	failover := settledStandby()
	failover.Leader = true
	delete(failover.Peers, unitA)
	for name, o := range map[string]Observed{"fresh": fresh, "settled": settledPrimary(), "restart": restart, "failover": failover} {
		first := Decide(o)
		o.AppBag = first.App
		second := Decide(o)
		if second.App != first.App {
			t.Errorf("%s: deciding again on its own write changes the bag:\n%+v\n%+v", name, first.App, second.App)
		}
	}
	if d := Decide(fresh); d.App.Primary != unitA || d.Step != StepCreate {
		t.Errorf("fresh: %+v", d)
	}
	// Standbys restart before the primary.
	if d := Decide(restart); d.App.RestartHolder != unitB {
		t.Errorf("restart: the lock goes to %q", d.App.RestartHolder)
	}
	if d := Decide(failover); d.App.Primary != unitB || d.Step != StepPromote {
		t.Errorf("failover: %+v", d)
	}
}

func TestMeasureWanted(t *testing.T) {
	three := func() Observed {
		o := settledStandby()
		o.Leader = true
		o.Peers[unitC] = map[string]string{KeyAddress: "10.0.0.3", KeyRole: "standby", KeyHasData: "true", KeySystemID: "7"}
		return o
	}
	if got := MeasureWanted(three()); got != nil {
		t.Errorf("primary present: measures %v", got)
	}
	o := three()
	o.Leader = false
	delete(o.Peers, unitA)
	if got := MeasureWanted(o); got != nil {
		t.Errorf("not the leader: measures %v", got)
	}
	o = three()
	delete(o.Peers, unitA)
	if got := MeasureWanted(o); !reflect.DeepEqual(got, []string{unitC}) {
		t.Errorf("primary gone: measures %v, want the other standby only", got)
	}
	o = three()
	o.DyingUnits = map[string]bool{unitA: true, unitC: true}
	if got := MeasureWanted(o); got != nil {
		t.Errorf("primary dying, the only other standby too: measures %v", got)
	}
	// Until it has measured, the leader waits instead of choosing on stale relation data.
	o = three()
	delete(o.Peers, unitA)
	if d := Decide(o); d.App.Primary != unitA || d.Why.Choosing != "" {
		t.Errorf("unmeasured failover: %+v", d.App)
	}
	o.Measured = map[string]Unit{unitC: {Timeline: 1, LSN: 990, Role: RoleStandby}}
	if d := Decide(o); d.App.Primary != unitC {
		t.Errorf("measured failover: primary %q, want the most advanced %s", d.App.Primary, unitC)
	}
}

func TestDecideAnnounce(t *testing.T) {
	o := settledPrimary()
	for hook, want := range map[string]bool{"update-status": false, "config-changed": true, "upgrade-charm": true} {
		o.Hook = hook
		if d := Decide(o); d.Announce != want {
			t.Errorf("%s: announce %v, want %v", hook, d.Announce, want)
		}
	}
	o = settledPrimary()
	o.Self[KeyRole] = ""
	if d := Decide(o); !d.Announce {
		t.Errorf("first report: no announcement")
	}
	o.Configured = false
	if d := Decide(o); d.Announce {
		t.Errorf("no cluster yet: announced")
	}
}

func TestDecideArchive(t *testing.T) {
	on := ArchiveFacts{URI: "swift://walex", Schedule: "13 0 * * *", Retain: 2, Binary: "/usr/local/lib/postgresql-charm/pgcharm",
		Config: "/usr/local/lib/postgresql-charm/archive.json", DataDir: "/srv/pgdata/16/main"}
	cron, err := BackupCron(on.Schedule, on.Binary, on.Config, on.DataDir, on.Retain, on.RetainDays)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mk func() Observed, f func(*ArchiveFacts)) Observed {
		o := mk()
		o.Archive = on
		f(&o.Archive)
		return o
	}
	cases := []struct {
		name string
		o    Observed
		want ArchivePlan
		s    Status
	}{
		{"off", settledPrimary(), ArchivePlan{}, Status{StatusActive, "Live master (16.4)"}},
		{"primary: archiving and the schedule", with(settledPrimary, func(*ArchiveFacts) {}), ArchivePlan{Enabled: true, Cron: cron},
			Status{StatusActive, "Live master (16.4)"}},
		{"standby: archiving, no schedule", with(settledStandby, func(*ArchiveFacts) {}), ArchivePlan{Enabled: true},
			Status{StatusActive, "Live secondary (16.4)"}},
		{"misconfigured: off, blocked", with(settledPrimary, func(a *ArchiveFacts) { a.Problem = "wal_e_storage_uri swift://walex needs os_auth_url" }),
			ArchivePlan{}, Status{StatusBlocked, "wal_e_storage_uri swift://walex needs os_auth_url"}},
		{"the store refuses: on, blocked, no health note", with(settledPrimary, func(a *ArchiveFacts) { a.Store = "rejected"; a.Failing = true }),
			ArchivePlan{Enabled: true, Cron: cron}, Status{StatusBlocked, "rejected"}},
		{"primary falling behind: a note", with(settledPrimary, func(a *ArchiveFacts) { a.Ready = ReadyBacklog + 1 }),
			ArchivePlan{Enabled: true, Cron: cron}, Status{StatusActive, "Live master (16.4); WAL archiving falling behind: 17 segments waiting"}},
		{"a standby's backlog is not its own", with(settledStandby, func(a *ArchiveFacts) { a.Ready = 99; a.Failing = true }),
			ArchivePlan{Enabled: true}, Status{StatusActive, "Live secondary (16.4)"}},
		{"a schedule cron cannot hold: no cron file, blocked", with(settledPrimary, func(a *ArchiveFacts) { a.DataDir = "relative/dir" }),
			ArchivePlan{Enabled: true}, Status{StatusBlocked, "backup cron: path \"relative/dir\" is not absolute and clean"}},
	}
	for _, tc := range cases {
		d := Decide(tc.o)
		if d.Archive != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, d.Archive, tc.want)
		}
		if d.Status != tc.s {
			t.Errorf("%s: status %+v, want %+v", tc.name, d.Status, tc.s)
		}
	}
}

func TestDecideCertHosts(t *testing.T) {
	o := settledPrimary()
	o.Address, o.PrivateAddress, o.PublicAddress = "10.0.0.1", "10.0.0.1", "198.18.0.1"
	o.Clients.Hosts = map[string]string{"db:4": "192.0.2.7", "db:5": "10.0.0.1"}
	o.Databases.Hosts = map[string]string{"database:3": "198.18.0.1"}
	if got := Decide(o).CertHosts; !reflect.DeepEqual(got, []string{"10.0.0.1", "192.0.2.7", "198.18.0.1"}) {
		t.Errorf("cert hosts %v", got)
	}
	o.PublicAddress = ""
	delete(o.Databases.Hosts, "database:3")
	if got := Decide(o).CertHosts; !reflect.DeepEqual(got, []string{"10.0.0.1", "192.0.2.7"}) {
		t.Errorf("without a public address: %v", got)
	}
}

func TestDecideRefreshStandby(t *testing.T) {
	if !Decide(settledStandby()).RefreshStandby {
		t.Errorf("a settled standby keeps its standby settings in line")
	}
	if Decide(settledPrimary()).RefreshStandby {
		t.Errorf("the primary has no standby settings")
	}
	s := settledStandby()
	s.Peers[unitA][KeyRole] = "" // the primary restarts: not ready
	if Decide(s).RefreshStandby {
		t.Errorf("refreshed towards a primary that is not ready")
	}
	s = settledStandby()
	s.Self[KeyFollowing] = unitC // follows another unit still: the follow step writes them
	if Decide(s).RefreshStandby {
		t.Errorf("refreshed before it follows the primary")
	}
}
