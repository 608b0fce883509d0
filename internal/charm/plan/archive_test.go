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
	got := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 2)
	if !strings.Contains(got, "\n13 0 * * * postgres /b backup-push --config /c.json --pgdata /d && /b delete --config /c.json retain 2 --confirm\n") {
		t.Errorf("cron with retention:\n%s", got)
	}
	if got := BackupCron("13 0 * * *", "/b", "/c.json", "/d", 0); strings.Contains(got, "delete") {
		t.Errorf("retention 0 must keep every backup:\n%s", got)
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
