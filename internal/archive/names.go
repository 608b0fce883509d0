package archive

import (
	"fmt"
	"regexp"

	"github.com/pgcharm/postgresql/internal/wal"
)

// Layout constants shared with WAL-G (reference §1): both tools must find each other's objects.
const (
	BackupFolder      = "basebackups_005/"
	WALFolder         = "wal_005/"
	BackupNamePrefix  = "base_"
	SentinelSuffix    = "_backup_stop_sentinel.json"
	MetadataFile      = "metadata.json"
	FilesMetadataFile = "files_metadata.json"
	TarPartitions     = "tar_partitions/"
)

var backupNameRE = regexp.MustCompile(`^base_([0-9A-F]{24})(_D_[0-9A-F]{24})?(_[0-9A-F]{8})?$`)

// ParseBackupName checks a backup name against WAL-G's pattern and returns its start segment.
func ParseBackupName(name string) (wal.Segment, error) {
	m := backupNameRE.FindStringSubmatch(name)
	if m == nil {
		return wal.Segment{}, fmt.Errorf("%q is not a backup name (want base_ and 24 hex digits)", name)
	}
	return wal.ParseSegment(m[1])
}
