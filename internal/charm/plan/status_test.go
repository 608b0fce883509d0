package plan

import "testing"

// Every row of the precedence: each finding alone, then each against the one below it.
func TestUnitStatus(t *testing.T) {
	active := Status{StatusActive, "Live master (15.18)"}
	waiting := Status{StatusWaiting, "Waiting for primary postgresql/0"}
	maint := Status{StatusMaintenance, "Cloning from postgresql/0"}
	localBlock := Status{StatusBlocked, "pgdata holds another database"}
	leaving := Status{StatusMaintenance, "Leaving: PostgreSQL stopped"}
	b := func(m string) Status { return Status{StatusBlocked, m} }
	w := func(m string) Status { return Status{StatusWaiting, m} }
	cases := []struct {
		name string
		f    StatusFacts
		want Status
	}{
		{"nothing found yet", StatusFacts{}, Status{StatusMaintenance, "Setting up"}},
		{"teardown alone", StatusFacts{Teardown: leaving}, leaving},
		{"teardown over a bad option", StatusFacts{Teardown: leaving, Config: "locale: must not be empty"}, leaving},
		{"teardown over everything", StatusFacts{Teardown: leaving, Config: "x", ConfFile: "y", ServerConfig: "z", Local: localBlock, Refused: []string{"db:1: no"}, Archive: "a", NoSecret: true, Choosing: "c", Restart: true,
			ArchiveHealth: "h", OldData: "o"}, leaving},
		{"bad option", StatusFacts{Config: "locale: must not be empty"}, b("locale: must not be empty")},
		{"bad option over postgresql.conf", StatusFacts{Config: "locale: x", ConfFile: "conf"}, b("locale: x")},
		{"postgresql.conf", StatusFacts{ConfFile: "conf"}, b("conf")},
		{"postgresql.conf over the server's refusal", StatusFacts{ConfFile: "conf", ServerConfig: "extra_pg_conf: bad"}, b("conf")},
		{"server refuses a setting", StatusFacts{ServerConfig: "extra_pg_conf: bad", Local: active}, b("extra_pg_conf: bad")},
		{"server refusal over the local decision", StatusFacts{ServerConfig: "extra_pg_auth: bad", Local: localBlock}, b("extra_pg_auth: bad")},
		{"local block", StatusFacts{Local: localBlock}, localBlock},
		{"local block over refused clients", StatusFacts{Local: localBlock, Refused: []string{"db:1: no"}}, localBlock},
		{"refused clients, all named", StatusFacts{Local: active, Refused: []string{"db:1: no", "database:4: bad"}},
			b("Refused db:1: no; database:4: bad")},
		{"refused clients over the archive", StatusFacts{Refused: []string{"db:1: no"}, Archive: "a"}, b("Refused db:1: no")},
		{"archive misconfigured", StatusFacts{Archive: "wal_e_storage_uri x needs y", Local: active}, b("wal_e_storage_uri x needs y")},
		{"archive over maintenance", StatusFacts{Archive: "a", Local: maint}, b("a")},
		{"maintenance", StatusFacts{Local: maint}, maint},
		{"maintenance over waiting for the secret", StatusFacts{Local: maint, NoSecret: true}, maint},
		{"no secret yet", StatusFacts{NoSecret: true}, w("Waiting for the leader to create the replication secret")},
		{"no secret over no CA", StatusFacts{NoSecret: true, NoCA: true}, w("Waiting for the leader to create the replication secret")},
		{"no CA yet", StatusFacts{NoCA: true}, w("Waiting for the leader to create the certificate authority")},
		{"maintenance over no CA", StatusFacts{Local: maint, NoCA: true}, maint},
		{"no CA over the leader's choice", StatusFacts{NoCA: true, Choosing: "c"}, w("Waiting for the leader to create the certificate authority")},
		{"no secret over the leader's choice", StatusFacts{NoSecret: true, Choosing: "c"}, w("Waiting for the leader to create the replication secret")},
		{"the leader's choice over the local wait", StatusFacts{Choosing: "Waiting for postgresql/2 to report its storage",
			Local: w("Waiting for the leader to choose a primary")}, w("Waiting for postgresql/2 to report its storage")},
		{"local wait", StatusFacts{Local: waiting}, waiting},
		{"local wait over the restart lock", StatusFacts{Local: waiting, Restart: true}, waiting},
		{"restart lock over active", StatusFacts{Local: active, Restart: true, ArchiveHealth: "h"}, w("Waiting for permission to restart")},
		{"active", StatusFacts{Local: active}, active},
		{"active with archiving behind", StatusFacts{Local: active, ArchiveHealth: "WAL archiving failing (x)"},
			Status{StatusActive, "Live master (15.18); WAL archiving failing (x)"}},
		{"active with old data", StatusFacts{Local: active, OldData: "old data kept until the next base backup: /d (1 KiB)"},
			Status{StatusActive, "Live master (15.18); old data kept until the next base backup: /d (1 KiB)"}},
		{"active with both notes, health first", StatusFacts{Local: active, ArchiveHealth: "h", OldData: "o"},
			Status{StatusActive, "Live master (15.18); h; o"}},
		{"active relaxed to asynchronous commit, said first", StatusFacts{Local: active, Sync: "asynchronous: no standby streaming", OldData: "o"},
			Status{StatusActive, "Live master (15.18); asynchronous: no standby streaming; o"}},
		{"notes never hide waiting", StatusFacts{Local: waiting, ArchiveHealth: "h", OldData: "o", Sync: "s"}, waiting},
		{"notes never hide a block", StatusFacts{Local: active, Archive: "a", OldData: "o"}, b("a")},
	}
	for _, tc := range cases {
		if got := UnitStatus(tc.f); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
