package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSuperuserCannotBecomeRoot is the attack of issue 15 (High 1): any PostgreSQL superuser
// (db-admin clients are) rewrites postgresql.conf, which belongs to postgres, through the
// server (COPY ... TO PROGRAM). The charm used to take the data directory from there and put
// it into root's cron file unquoted and into root's chowns: data_directory='/etc/cron.d' made
// root give postgres its cron directory, and a value with a newline added a root cron line.
// Now the charm derives the data directory from what it knows, blocks naming the edit, and
// root neither chowns nor writes what the file names.
func TestSuperuserCannotBecomeRoot(t *testing.T) {
	s, _ := newSim(t, "attack")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("config", "postgresql", "wal_e_storage_uri=file:///var/lib/postgresql/archive", "wal_e_backup_schedule=13 0 * * *")
	s.Run("wait")
	unit := "postgresql/0"
	const cronFile, conf = "/etc/cron.d/juju-postgresql", "/etc/postgresql/15/main/postgresql.conf"
	before := s.Exec(unit, "cat", cronFile)
	if !strings.Contains(before, "--pgdata /srv/pgdata/15/main") {
		t.Fatalf("cron entry before the attack:\n%s", before)
	}
	owner := func(p string) string { return strings.TrimSpace(s.Exec(unit, "stat", "-c", "%U:%G %a", p)) }
	cronDirOwner := owner("/etc/cron.d")

	s.Exec(unit, "cp", "-p", conf, "/root/postgresql.conf.orig")
	attack := func(value string) {
		t.Helper()
		line := "data_directory = '" + value + "'"
		psql(s, unit, "COPY (SELECT '"+strings.ReplaceAll(line, "'", "''")+"') TO PROGRAM 'cat >> "+conf+"'")
		// The server stops (a reboot, say): a running one kept the old charm from acting on
		// the edit (it errored instead), a stopped one did not.
		s.Exec(unit, "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", "/srv/pgdata/15/main", "-m", "fast", "-w", "stop")
		s.Run("config", "postgresql", "wal_e_backup_retention=3") // any hook
		s.Run("wait")
		st := s.Status("").Applications["postgresql"].Units[unit].Workload
		if st.Current != "blocked" || !strings.Contains(st.Message, "data_directory") {
			t.Errorf("after data_directory=%q the unit is %s: %q, want blocked naming data_directory", value, st.Current, st.Message)
		}
		if got := owner("/etc/cron.d"); got != cronDirOwner {
			t.Errorf("after data_directory=%q /etc/cron.d is %s, was %s", value, got, cronDirOwner)
		}
		if got := s.Exec(unit, "cat", cronFile); got != before || strings.Contains(got, "owned") {
			t.Errorf("after data_directory=%q the cron file is:\n%s", value, got)
		}
		if _, _, err := s.RunE("exec", unit, "--", "test", "-e", "/srv/pgdata/15/main/PG_VERSION"); err != nil {
			t.Errorf("after data_directory=%q the database is gone", value)
		}
		// Put back, the unit carries on (and starts the server again).
		s.Exec(unit, "cp", "-p", "/root/postgresql.conf.orig", conf)
		s.Run("config", "postgresql", "wal_e_backup_retention=2")
		s.Run("wait")
		if st := s.Status("").Applications["postgresql"].Units[unit].Workload; st.Current != "active" {
			t.Errorf("after the edit was undone: %s %q", st.Current, st.Message)
		}
		if got := psql(s, unit, "SELECT 1"); got != "1" {
			t.Errorf("server after the attack: %q", got)
		}
	}
	attack("/etc/cron.d")
	attack(`/srv/pgdata/15/main\n* * * * * root touch /tmp/owned\n#`)
}

// TestPostgresCannotReplaceTheAgent: the failover agent runs as root. Its binary must sit
// where postgres cannot swap it: postgres owns its home, /var/lib/postgresql, so it can
// rename any directory there, root's included, and put its own program in its place. Here
// postgres tries exactly that on the agent's binary and its directory, then the agent
// starts again (as at a reboot or a charm upgrade): it must still run the charm's binary,
// and nothing postgres wrote may have run as root.
func TestPostgresCannotReplaceTheAgent(t *testing.T) {
	s, _ := newSim(t, "agentbin")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("wait")
	unit := "postgresql/0"
	const service = "postgresql-charm-agent-postgresql-0.service"
	execStart := func() string {
		t.Helper()
		for _, l := range strings.Split(s.Exec(unit, "cat", "/etc/systemd/system/"+service), "\n") {
			if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
				return strings.Fields(v)[0]
			}
		}
		t.Fatalf("%s has no ExecStart", service)
		return ""
	}
	bin := execStart()
	// As postgres: move the binary's directory aside, plant a program under its name.
	plant := `d=$(dirname "$1"); mv "$d" "$d.moved" 2>/dev/null || true; mkdir -p "$d" 2>/dev/null || true; ` +
		`mv "$1" "$1.moved" 2>/dev/null || true; printf '#!/bin/sh\nid -u > /run/owned-by-postgres\nsleep 3600\n' > "$1" 2>/dev/null && chmod 755 "$1"; true`
	s.Exec(unit, "runuser", "-u", "postgres", "--", "sh", "-c", plant, "plant", bin)
	s.Exec(unit, "systemctl", "restart", service)
	s.Run("config", "postgresql", "failover_timeout=11") // any hook: the charm checks its agent
	s.Run("wait")
	s.Exec(unit, "systemctl", "restart", service)
	eventually(t, 20*time.Second, "the agent running again", func() bool {
		_, _, err := s.RunE("exec", unit, "--", "systemctl", "is-active", "--quiet", service)
		return err == nil
	})
	time.Sleep(2 * time.Second)
	if _, _, err := s.RunE("exec", unit, "--", "test", "-e", "/run/owned-by-postgres"); err == nil {
		t.Fatalf("root ran postgres's program: the agent's binary %s could be replaced by postgres", bin)
	}
	// The binary and every directory above it: root's, and writable by nobody else.
	walk := strings.TrimSpace(s.Exec(unit, "sh", "-c", `d="$1"; while [ "$d" != / ]; do stat -c '%U %A %n' "$d"; d=$(dirname "$d"); done`, "walk", execStart()))
	for _, l := range strings.Split(walk, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "root" || f[1][5] == 'w' || f[1][8] == 'w' {
			t.Errorf("the agent's binary or a directory above it is not root's alone: %s", l)
		}
	}
}
