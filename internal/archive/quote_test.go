package archive_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive"
)

// Issue 15 Low 10: the CLI restore writes RecoverySettings.Conf into postgresql.auto.conf.
// A path with a quote made restore_command a shell word with a backslash ('\”), which
// PostgreSQL's configuration parser reads as an escape: the setting it read was not the
// command. Real PostgreSQL reads each setting back here (postgres -C).
func TestRecoverySettingsConfReadByPostgres(t *testing.T) {
	needPG(t)
	base := baseDir(t)
	c := newCluster(t, base, "quotes")
	cmd := archive.RestoreCommand("/opt/it's here/pgcharm", `/etc/o'brien\x/archive.json`, "s3://b/p")
	s := archive.RecoverySettings{RestoreCommand: cmd, RecoveryTargetTimeline: "latest"}
	c.conf(strings.TrimRight(s.Conf(), "\n"))
	got, errs, code := run(t, filepath.Join(pgBin, "postgres"), "-D", c.dir, "-C", "restore_command")
	if code != 0 || strings.TrimRight(got, "\n") != cmd {
		t.Errorf("PostgreSQL read restore_command as\n%q (exit %d %s)\nwant\n%q", got, code, errs, cmd)
	}
}
