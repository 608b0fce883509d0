package plan

import (
	"strings"
	"testing"
	"time"
)

func TestPrimaryEndpoint(t *testing.T) {
	standby := settledStandby()
	primary := settledPrimary()
	primary.Address = "10.0.0.1"
	none := settledStandby()
	none.AppBag.Primary = ""
	cases := []struct {
		name                  string
		o                     Observed
		primary, addr, refuse string
	}{
		{"on the primary: its own address", primary, unitA, "10.0.0.1", ""},
		{"on a standby: the address the primary published", standby, unitA, "10.0.0.1", ""},
		{"no primary yet", none, "", "", "no primary has been chosen yet"},
	}
	for _, tc := range cases {
		p, a, r := PrimaryEndpoint(tc.o)
		if p != tc.primary || a != tc.addr || r != tc.refuse {
			t.Errorf("%s: %q %q %q, want %q %q %q", tc.name, p, a, r, tc.primary, tc.addr, tc.refuse)
		}
	}
}

func TestDecideSwitchover(t *testing.T) {
	ten, negative := 10, -1
	noData := settledPrimary()
	noData.Peers[unitB] = map[string]string{KeyAddress: "10.0.0.2", KeyHasData: "false"}
	noPrimary := settledPrimary()
	noPrimary.AppBag.Primary = ""
	noSecret := settledPrimary()
	noSecret.AppBag.SecretID = ""
	cases := []struct {
		name    string
		o       Observed
		target  string
		timeout *int
		want    SwitchoverDecision
	}{
		{"to a live standby", settledPrimary(), unitB, nil,
			SwitchoverDecision{Primary: unitA, Target: unitB, Timeout: time.Minute}},
		{"with a timeout", settledPrimary(), unitB, &ten,
			SwitchoverDecision{Primary: unitA, Target: unitB, Timeout: 10 * time.Second}},
		{"a negative timeout", settledPrimary(), unitB, &negative,
			SwitchoverDecision{Refused: "timeout must be a number of seconds, 0 or more; got -1"}},
		{"not on the leader", settledStandby(), unitB, nil,
			SwitchoverDecision{Refused: "switchover must be run on the leader unit"}},
		{"to the primary", settledPrimary(), unitA, nil, SwitchoverDecision{Result: unitA + " is already master"}},
		{"to a unit of another application", settledPrimary(), "mysql/0", nil,
			SwitchoverDecision{Refused: "mysql/0 is not a unit of this application"}},
		{"to a unit without a database", noData, unitB, nil,
			SwitchoverDecision{Refused: unitB + " holds no database yet; wait until it is a live secondary"}},
		{"before a primary is chosen", noPrimary, unitB, nil, SwitchoverDecision{Refused: "no primary has been chosen yet"}},
		{"before the secret exists", noSecret, unitB, nil,
			SwitchoverDecision{Refused: "the application secret does not exist yet"}},
	}
	for _, tc := range cases {
		got := DecideSwitchover(tc.o, tc.target, tc.timeout, time.Minute)
		if tc.want.Refused != "" || tc.want.Result != "" {
			got = SwitchoverDecision{Refused: got.Refused, Result: got.Result}
		}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestJudgeCatchUp(t *testing.T) {
	p := ServerPosition{SystemID: "7", Timeline: 2, Current: 1000}
	live := ServerPosition{InRecovery: true, SystemID: "7", Timeline: 2, Receiver: "streaming", Replayed: 1000, Flushed: 1000}
	with := func(f func(*ServerPosition)) ServerPosition { s := live; f(&s); return s }
	cases := []struct {
		name    string
		t       ServerPosition
		expired bool
		done    bool
		refused string // a part of the refusal
	}{
		{"replayed the primary's position", live, false, true, ""},
		{"replayed past it", with(func(s *ServerPosition) { s.Replayed = 1200 }), false, true, ""},
		{"behind: waits", with(func(s *ServerPosition) { s.Replayed = 900 }), false, false, ""},
		{"behind at the timeout", with(func(s *ServerPosition) { s.Replayed = 900 }), true, false, "wait until it catches up"},
		{"not streaming: waits to reconnect", with(func(s *ServerPosition) { s.Receiver = "" }), false, false, ""},
		{"not streaming at the timeout, however far it replayed", with(func(s *ServerPosition) { s.Receiver = "" }), true, false,
			"would promote without the primary's last WAL"},
		{"on an older timeline", with(func(s *ServerPosition) { s.Timeline = 1 }), false, false, ""},
		{"not a standby", with(func(s *ServerPosition) { s.InRecovery = false }), false, false, "is not a standby"},
		{"another database", with(func(s *ServerPosition) { s.SystemID = "8" }), false, false, "holds another database"},
		{"replay paused, even caught up", with(func(s *ServerPosition) { s.ReplayPaused = true }), false, false, "run replication-resume"},
	}
	for _, tc := range cases {
		got := JudgeCatchUp(unitB, p, p.Current, tc.t, tc.expired, time.Minute)
		if got.Done != tc.done || (tc.refused == "") != (got.Refused == "") || !strings.Contains(got.Refused, tc.refused) {
			t.Errorf("%s: %+v, want done %v refused containing %q", tc.name, got, tc.done, tc.refused)
		}
	}
}

func TestDecideReplay(t *testing.T) {
	cases := []struct {
		name                                         string
		pause, configured, running, recovery, paused bool
		want                                         ReplayDecision
	}{
		{"pause a standby", true, true, true, true, false, ReplayDecision{Act: true, Result: "Paused"}},
		{"pause a paused standby", true, true, true, true, true, ReplayDecision{Result: "Already paused"}},
		{"resume a paused standby", false, true, true, true, true, ReplayDecision{Act: true, Result: "Resumed"}},
		{"resume a standby", false, true, true, true, false, ReplayDecision{Result: "Already resumed"}},
		{"on the primary", true, true, true, false, false, ReplayDecision{Refused: NotStandby}},
		{"without a server", true, false, false, false, false, ReplayDecision{Refused: NotStandby + ": PostgreSQL is not set up on this unit"}},
		{"on a stopped server", false, true, false, false, false, ReplayDecision{Refused: NotStandby + ": PostgreSQL is not running on this unit"}},
	}
	for _, tc := range cases {
		if got := DecideReplay(tc.pause, tc.configured, tc.running, tc.recovery, tc.paused); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestRefuseArchiveWrite(t *testing.T) {
	archived := func(o Observed, uri, problem string) Observed {
		o.Archive = ArchiveFacts{URI: uri, Problem: problem}
		return o
	}
	undecided := settledStandby()
	undecided.AppBag.Primary = ""
	cases := []struct {
		name string
		o    Observed
		want string
	}{
		{"on the primary with an archive", archived(settledPrimary(), "s3://b/p", ""), ""},
		{"on a standby", archived(settledStandby(), "s3://b/p", ""),
			"wal-e-backup must run on the primary unit, " + unitA + " (this is " + unitB + ")"},
		{"before a primary is chosen", archived(undecided, "s3://b/p", ""),
			"wal-e-backup must run on the primary unit, (not chosen yet) (this is " + unitB + ")"},
		{"without an archive", settledPrimary(), "wal_e_storage_uri is not set; configure the archive first"},
		{"with an unusable archive", archived(settledPrimary(), "s3://b/p", "wal_e_storage_uri s3://b/p needs aws_access_key_id"),
			"wal_e_storage_uri s3://b/p needs aws_access_key_id"},
	}
	for _, tc := range cases {
		if got := RefuseArchiveWrite("wal-e-backup", tc.o); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRefuseRestoreSource(t *testing.T) {
	if got := RefuseRestoreSource(RestoreSource{URI: "s3://b/p", Own: true}); !strings.Contains(got, "this application's own wal_e_storage_uri") {
		t.Errorf("the own archive: %q", got)
	}
	if got := RefuseRestoreSource(RestoreSource{URI: "s3://b/p", Problem: "storage-uri: bad"}); got != "storage-uri: bad" {
		t.Errorf("an unusable archive: %q", got)
	}
	if got := RefuseRestoreSource(RestoreSource{URI: "s3://other/p"}); got != "" {
		t.Errorf("another archive: %q", got)
	}
}

func TestDecideRestore(t *testing.T) {
	alone := settledPrimary()
	alone.Peers, alone.AppBag.Primary = map[string]map[string]string{}, ""
	restored := settledStandby()
	restored.Peers[unitA][KeyRestore] = "r1"
	stopped := settledStandby()
	stopped.Peers[unitA][KeyRole] = ""
	gone := settledStandby()
	delete(gone.Peers, unitA)
	edited := settledPrimary()
	edited.ConfFile = "postgresql.conf sets data_directory"
	empty := settledPrimary()
	empty.Local = Local{Self: unitA}
	cases := []struct {
		name    string
		o       Observed
		confirm bool
		want    RestoreDecision
	}{
		{"on the primary", settledPrimary(), true, RestoreDecision{OnPrimary: true}},
		{"on a unit alone", alone, true, RestoreDecision{OnPrimary: true}},
		{"on a standby: clone the restored primary", restored, true, RestoreDecision{Follow: unitA, FollowRestore: "r1"}},
		{"on a standby of a stopped primary", stopped, true, RestoreDecision{Refused: "primary " + unitA + " is not running; restore or start it first"}},
		{"on a standby without a primary to follow", gone, true, RestoreDecision{Refused: "no primary to follow yet; restore the primary first"}},
		{"with postgresql.conf edited", edited, true, RestoreDecision{Refused: "postgresql.conf sets data_directory"}},
		{"not confirmed", settledPrimary(), false, RestoreDecision{
			WouldReplace: "the database in /srv/pgdata/16/main (system id 7, timeline 1, primary)",
			Refused:      "not confirmed: this would replace the database in /srv/pgdata/16/main (system id 7, timeline 1, primary); run again with confirm=true"}},
		{"not confirmed, no database", empty, false, RestoreDecision{WouldReplace: "nothing (no database here yet)",
			Refused: "not confirmed: this would replace nothing (no database here yet); run again with confirm=true"}},
	}
	for _, tc := range cases {
		if got := DecideRestore(tc.o, "/srv/pgdata/16/main", tc.confirm); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestRefuseRemoveOldData(t *testing.T) {
	if got := RefuseRemoveOldData([]string{"/a", "/b"}, false); got != "not confirmed: this would delete /a, /b; run again with confirm=true" {
		t.Errorf("unconfirmed: %q", got)
	}
	if got := RefuseRemoveOldData([]string{"/a"}, true); got != "" {
		t.Errorf("confirmed: %q", got)
	}
	if got := RefuseRemoveOldData(nil, false); got != "" {
		t.Errorf("nothing to delete: %q", got)
	}
}
