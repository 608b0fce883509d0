package plan

import (
	"strings"
	"testing"
	"time"
)

func TestArchiverHealth(t *testing.T) {
	for _, c := range []struct {
		failing bool
		ready   int
		want    string
	}{
		{false, 0, ""},
		{false, 16, ""},
		{false, 17, "WAL archiving falling behind: 17 segments waiting"},
		{true, 1, "WAL archiving failing (000000010000000000000003)"},
		{true, 40, "WAL archiving failing (000000010000000000000003) and 40 segments waiting"},
	} {
		if got := ArchiverHealth(c.failing, "000000010000000000000003", c.ready, 16); got != c.want {
			t.Errorf("ArchiverHealth(%v, %d) = %q, want %q", c.failing, c.ready, got, c.want)
		}
	}
}

func TestBackupCron(t *testing.T) {
	got, err := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 2, 0)
	if err != nil || !strings.Contains(got, "\n13 0 * * * postgres /b backup-push --config /c.json --pgdata /d && /b delete --config /c.json retain 2 --confirm\n") {
		t.Errorf("cron with retention (%v):\n%s", err, got)
	}
	if got, _ := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 0, 0); strings.Contains(got, "delete") {
		t.Errorf("retention 0 must keep every backup:\n%s", got)
	}
	if got, _ := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 2, 7); !strings.Contains(got, "/b delete --config /c.json --retain-days 7 retain 2 --confirm\n") {
		t.Errorf("cron with retention by count and age:\n%s", got)
	}
	if got, _ := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 0, 7); !strings.Contains(got, "/b delete --config /c.json --retain-days 7 --confirm\n") {
		t.Errorf("cron with retention by age:\n%s", got)
	}
	// Paths with spaces, quotes and cron's % stay one word each.
	got, err = BackupCron("13 0 * * *", "/b", "/c.json", "/srv/my data/it's 100%", 0, 0)
	if err != nil || !strings.Contains(got, ` --pgdata '/srv/my data/it'\''s 100\%'`+"\n") {
		t.Errorf("quoted data directory (%v):\n%s", err, got)
	}
}

// A data directory or schedule from anywhere else than the charm must never add a line to
// root's cron file.
func TestBackupCronRefusesInjection(t *testing.T) {
	for _, dir := range []string{"/d\n* * * * * root touch /tmp/owned", "/d\r* * * * * root x", "d", "/d/../etc", "/d\x00"} {
		if got, err := BackupCron("13 0 * * *", "/b", "/c.json", dir, 1, 0); err == nil {
			t.Errorf("data directory %q accepted:\n%s", dir, got)
		}
	}
	for _, sched := range []string{"13 0 * * *\n* * * * * root touch /tmp/owned", "TZ=UTC", "TZ=UTC 13 0 * * *", "CRON_TZ=x",
		"CRON_TZ=UTC 13 0 * * *", "@daily", "13 0 * *", "13 0 * * * *", "13 0 * * * root", "61 0 * * *", "13;0 * * * *", ""} {
		if got, err := BackupCron(sched, "/b", "/c.json", "/d", 1, 0); err == nil {
			t.Errorf("schedule %q accepted:\n%s", sched, got)
		}
	}
	for _, sched := range []string{"13 0 * * *", "*/5 * * * *", "0 3 * * MON-FRI", "0 0 1,15 * ?", "\t13 0  * * * "} {
		if err := CheckSchedule(sched); err != nil {
			t.Errorf("schedule %q refused: %v", sched, err)
		}
	}
}

func TestResultKey(t *testing.T) {
	if got := ResultKey("base_00000001000000000000000A"); got != "base-00000001000000000000000a" {
		t.Errorf("ResultKey = %q", got)
	}
}

func TestCheckTargetTime(t *testing.T) {
	fin := time.Date(2017, 8, 29, 13, 7, 17, 0, time.UTC)
	if err := CheckTargetTime(fin.Add(-time.Second), fin, "base_x"); err == nil || !strings.Contains(err.Error(), "before the oldest backup base_x") {
		t.Errorf("a target before the oldest backup: %v", err)
	}
	if err := CheckTargetTime(fin, fin, "base_x"); err != nil {
		t.Errorf("a target at the finish: %v", err)
	}
	if err := CheckTargetTime(time.Time{}, fin, "base_x"); err != nil {
		t.Errorf("no target: %v", err)
	}
}
