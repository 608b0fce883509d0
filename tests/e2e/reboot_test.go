package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRebootAndCrash reboots and crashes the machines of a primary and a standby on system
// machines (systemd as PID 1). The charm, not boot, starts PostgreSQL: after a reboot (or a
// crash) nothing serves until the unit's start hook has decided its role, and then the same
// primary and standby come back with every acknowledged row.
func TestRebootAndCrash(t *testing.T) {
	s, _ := newSim(t, "reboot")
	s.SystemMachines()
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	standby := standbys[0]
	psql(s, primary, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
	for _, u := range []string{primary, standby} {
		if got := strings.TrimSpace(s.Exec(u, "sh", "-c", "cat /etc/postgresql/*/main/start.conf | grep -v '^#'")); got != "manual" {
			t.Errorf("%s: start.conf %q, want manual", u, got)
		}
	}

	// down reports whether nothing listens on the unit's PostgreSQL socket.
	down := func(u string) bool {
		_, _, err := s.RunE("exec", u, "--", "runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT 1")
		return err != nil
	}

	for _, fault := range []string{"reboot", "crash"} {
		for _, u := range []string{primary, standby} {
			t.Run(fault+" "+u, func(t *testing.T) {
				// Without --no-wait the start hook would run at once: hold it to look at the
				// machine as boot left it.
				if fault == "reboot" {
					s.Run("reboot", u, "--no-wait")
				} else {
					s.Run("crash", u)
					s.Run("start-machine", u, "--no-wait")
				}
				if !down(u) {
					t.Errorf("after %s, PostgreSQL on %s serves before its start hook ran", fault, u)
				}
				if got := strings.TrimSpace(s.Exec(u, "systemctl", "is-system-running")); got != "running" {
					t.Errorf("%s after %s: system %s: %s", u, fault, got, s.Exec(u, "systemctl", "--failed", "--no-legend"))
				}
				s.Run("wait")
				p, sb := expectRoles(t, s, "postgresql", 1)
				if p != primary || sb[0] != standby {
					t.Errorf("after %s of %s: primary %s, standby %v; want %s and %s", fault, u, p, sb, primary, standby)
				}
				if got := psql(s, primary, "SELECT count(*) FROM kept WHERE v = 'before'"); got != "1" {
					t.Errorf("the row written before the faults, after %s of %s: %s", fault, u, got)
				}
				psql(s, primary, "INSERT INTO kept VALUES ('after "+fault+" "+u+"')")
				eventually(t, 30*time.Second, "the new row on "+standby, func() bool {
					out, err := psqlE(s, standby, "SELECT count(*) FROM kept WHERE v = 'after "+fault+" "+u+"'")
					return err == nil && out == "1"
				})
				if out, _ := psqlE(s, standby, "INSERT INTO kept VALUES ('standby write')"); strings.Contains(out, "INSERT") {
					t.Errorf("standby %s accepted a write", standby)
				}
			})
		}
	}
}
