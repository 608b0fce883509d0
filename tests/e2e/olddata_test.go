package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestRemoveOldData: a copy of the data directory moved aside (a restore's, here made by
// hand) is named in the status with its size; remove-old-data lists it and deletes
// nothing without confirm=true, then deletes it, and the status stops naming it. A link
// postgres planted under a copy's name (pointing at root's files) is neither listed nor
// followed: root deletes only real directories it kept.
func TestRemoveOldData(t *testing.T) {
	s, _ := newSim(t, "olddata")
	const m, unit, dataDir = "lab:olddata", "postgresql/0", "/srv/pgdata/15/main"
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("wait")
	old := dataDir + ".moved-restore-20261201T000000Z"
	planted := dataDir + ".moved-clone-20261202T000000Z"
	s.Exec(unit, "sh", "-c", "mkdir "+old+" && head -c 1048576 /dev/urandom > "+old+"/base && chown -R postgres:postgres "+old+
		" && mkdir -p /root/precious && echo keep > /root/precious/file"+
		" && runuser -u postgres -- ln -s /root/precious "+planted)
	exists := func(p string) bool { _, _, err := s.RunE("exec", unit, "--", "test", "-e", p); return err == nil }

	s.Run("run-hook", unit, "update-status")
	st, msg := unitStatus(s, m, unit)
	if st != "active" || !strings.Contains(msg, "old data kept until the next base backup: "+old+" (1.0 MiB)") || strings.Contains(msg, planted) {
		t.Errorf("status with a copy kept: %s %q", st, msg)
	}

	res := s.RunAction(unit, "remove-old-data")
	if res.Status != "failed" || fmt.Sprint(res.Results["old-data"]) != old || !strings.Contains(res.Message, "confirm=true") {
		t.Errorf("without confirm: %+v", res)
	}
	if n, _ := strconv.Atoi(fmt.Sprint(res.Results["bytes"])); n < 1048576 {
		t.Errorf("bytes %v, want at least 1 MiB", res.Results["bytes"])
	}
	if !exists(old + "/base") {
		t.Fatal("remove-old-data without confirm deleted the copy")
	}

	res = s.RunAction(unit, "remove-old-data", "confirm=true")
	if res.Status != "completed" || fmt.Sprint(res.Results["removed"]) != "true" {
		t.Errorf("with confirm: %+v", res)
	}
	if exists(old) {
		t.Error("the copy is still there")
	}
	if !exists("/root/precious/file") {
		t.Error("remove-old-data followed a link postgres planted and deleted root's files")
	}
	if out := psql(s, unit, "SELECT 1"); out != "1" {
		t.Errorf("the server after remove-old-data: %q", out)
	}
	s.Run("run-hook", unit, "update-status")
	if st, msg := unitStatus(s, m, unit); st != "active" || strings.Contains(msg, "old data") {
		t.Errorf("status after removal: %s %q", st, msg)
	}
	if res := s.RunAction(unit, "remove-old-data"); res.Status != "completed" || fmt.Sprint(res.Results["old-data"]) != "none" {
		t.Errorf("with nothing kept: %+v", res)
	}
}
