package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ArchiverHealth says whether WAL archiving on the primary falls behind: the last push failed
// after the last success, or more than backlog segments wait. Empty means healthy.
func ArchiverHealth(failing bool, lastFailed string, ready, backlog int) string {
	switch {
	case failing && ready > backlog:
		return fmt.Sprintf("WAL archiving failing (%s) and %d segments waiting", lastFailed, ready)
	case failing:
		return fmt.Sprintf("WAL archiving failing (%s)", lastFailed)
	case ready > backlog:
		return fmt.Sprintf("WAL archiving falling behind: %d segments waiting", ready)
	}
	return ""
}

// BackupCron is /etc/cron.d/juju-postgresql: a base backup on schedule, then retention
// (retain 0 keeps every backup), both as postgres.
func BackupCron(schedule, binary, configPath, dataDir string, retain int) string {
	cmd := fmt.Sprintf("%s backup-push --config %s --pgdata %s", binary, configPath, dataDir)
	if retain > 0 {
		cmd += fmt.Sprintf(" && %s delete --config %s retain %d --confirm", binary, configPath, retain)
	}
	return "# Written by the PostgreSQL charm; changes are overwritten.\n" +
		"SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n" +
		fmt.Sprintf("%s postgres %s\n", schedule, cmd)
}

// ResultKey turns a backup name into an action result key as the original charm did:
// lowercase, dashes for underscores (base_0000000100000000000000A0 → base-0000000100000000000000a0).
func ResultKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// CheckTargetTime refuses a recovery target before the oldest backup could be consistent
// (its finish time): no backup can recover to it.
func CheckTargetTime(target, oldestFinish time.Time, oldest string) error {
	if target.IsZero() || !target.Before(oldestFinish) {
		return nil
	}
	return fmt.Errorf("target-time %s is before the oldest backup %s finished (%s); choose a later time",
		target.UTC().Format("2006-01-02 15:04:05.000000Z07"), oldest, oldestFinish.UTC().Format("2006-01-02 15:04:05.000000Z07"))
}

// FormatBytes is a size for action results.
func FormatBytes(n int64) string { return strconv.FormatInt(n, 10) }
