package archive

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseVersionText(t *testing.T) {
	for in, want := range map[string]int{
		"PostgreSQL 15.14 (Debian 15.14-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit": 150014,
		"PostgreSQL 9.6.24 on x86_64-pc-linux-gnu": 90624,
		"PostgreSQL 12.3":                          120003,
		"EnterpriseDB 12":                          0,
		"":                                         0,
	} {
		if got := parseVersionText(in); got != want {
			t.Errorf("parseVersionText(%q) = %d, want %d", in, got, want)
		}
	}
	if MajorVersion(150014) != 15 || MajorVersion(90624) != 906 {
		t.Error("MajorVersion")
	}
}

func TestCheckRestorable(t *testing.T) {
	delta := Backup{Name: "base_000000010000000000000004_D_000000010000000000000002", IsDelta: true}
	if err := CheckRestorable(delta, 15); err == nil || !strings.Contains(err.Error(), "wal-g backup-fetch") {
		t.Errorf("delta: %v", err)
	}
	wale := Backup{Name: "base_000000010000000000000002_00000040", Format: FormatWALE, PgVersion: 140010, ExtendedVersion: "PostgreSQL 14.10 on x86_64"}
	if err := CheckRestorable(wale, 15); err == nil || !strings.Contains(err.Error(), "PostgreSQL 14.10") || !strings.Contains(err.Error(), "PostgreSQL 15") {
		t.Errorf("14 on 15: %v", err)
	}
	if err := CheckRestorable(wale, 14); err != nil {
		t.Errorf("14 on 14: %v", err)
	}
	if err := CheckRestorable(wale, 0); err != nil {
		t.Errorf("unchecked: %v", err)
	}
	unknown := Backup{Name: wale.Name, Format: FormatWALE}
	if err := CheckRestorable(unknown, 15); err == nil || !strings.Contains(err.Error(), ExtendedVersionFile) {
		t.Errorf("unknown version: %v", err)
	}
	if err := CheckRestorable(Backup{Name: "base_000000010000000000000002", Format: FormatWALG, PgVersion: 150004}, 15); err != nil {
		t.Error(err)
	}
}

// TestWALESentinel lists a WAL-E backup from its sentinel and extended_version.txt alone.
func TestWALESentinel(t *testing.T) {
	ctx := context.Background()
	a := New(openTestStore(t), LZ4, 2)
	name := "base_000000010000000000000002_00000040"
	a.Store.Put(ctx, BackupFolder+name+"/"+ExtendedVersionFile, strings.NewReader("PostgreSQL 15.14 (Debian 15.14-0+deb12u1) on x86_64-pc-linux-gnu, 64-bit"))
	a.Store.Put(ctx, BackupFolder+name+"/tar_partitions/part_00000000.tar.lzo", strings.NewReader("x"))
	a.Store.Put(ctx, BackupFolder+name+SentinelSuffix, strings.NewReader(`{"wal_segment_backup_stop": "000000010000000000000003", "wal_segment_offset_backup_stop": "00000256", "expanded_size_bytes": 23456789, "spec": {"base_prefix": "/var/lib/postgresql/15/main/", "tablespaces": []}}`))
	b, err := a.FindBackup(ctx, "LATEST")
	if err != nil {
		t.Fatal(err)
	}
	if b.Format != FormatWALE || b.StartLSN != 0x2000000+40 || b.FinishLSN != 0x3000000+256 || b.PgVersion != 150014 ||
		b.UncompressedSize != 23456789 || b.Timeline != 1 || b.FinishTime.IsZero() || !b.StartTime.IsZero() || b.Unsupported != "" {
		t.Fatalf("listed %+v", b)
	}
	if b.StartSegment().Name() != "000000010000000000000002" {
		t.Errorf("start segment %s", b.StartSegment())
	}
	// The backup history file, when archived, gives the times (stop rounded up to the second).
	var hist bytes.Buffer
	zw, _ := NewCompressor(LZ4, &hist)
	io.WriteString(zw, "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n"+
		"CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-04 01:02:03 UTC\n"+
		"LABEL: freeze_start_2026-12-04T01:02:03\nSTART TIMELINE: 1\nSTOP TIME: 2026-12-04 01:02:09 UTC\nSTOP TIMELINE: 1\n")
	zw.Close()
	a.Store.Put(ctx, WALFolder+"000000010000000000000002.00000028.backup.lz4", &hist)
	b, _ = a.FindBackup(ctx, "LATEST")
	if want := time.Date(2026, 12, 4, 1, 2, 10, 0, time.UTC); !b.FinishTime.Equal(want) || !b.StartTime.Equal(want.Add(-7*time.Second)) {
		t.Errorf("times from the history file: %s .. %s", b.StartTime, b.FinishTime)
	}
	// Tablespaces as WAL-E's spec records them (members under pg_tblspc/OID) are restorable,
	// with their locations; a link anywhere else is not what WAL-E wrote: refused clearly.
	a.Store.Put(ctx, BackupFolder+name+SentinelSuffix, strings.NewReader(`{"wal_segment_backup_stop": "000000010000000000000003", "wal_segment_offset_backup_stop": "00000256", "expanded_size_bytes": 1, "spec": {"base_prefix": "/d/", "tablespaces": ["16400"], "16400": {"loc": "/ts/", "link": "pg_tblspc/16400"}}}`))
	b, _ = a.FindBackup(ctx, "LATEST")
	if err := CheckRestorable(b, 15); err != nil || b.Sentinel.Spec.Tablespaces["16400"].Location != "/ts/" {
		t.Errorf("tablespaces: %v, spec %+v", err, b.Sentinel.Spec)
	}
	a.Store.Put(ctx, BackupFolder+name+SentinelSuffix, strings.NewReader(`{"wal_segment_backup_stop": "000000010000000000000003", "wal_segment_offset_backup_stop": "00000256", "expanded_size_bytes": 1, "spec": {"base_prefix": "/d/", "tablespaces": ["16400"], "16400": {"loc": "/ts/", "link": "../../etc"}}}`))
	b, _ = a.FindBackup(ctx, "LATEST")
	if err := CheckRestorable(b, 15); err == nil || !strings.Contains(err.Error(), "pg_tblspc/16400") {
		t.Errorf("tablespace linked elsewhere: %v", err)
	}
}
