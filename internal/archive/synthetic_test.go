package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// synthetic builds an archive from object names: sentinels for the backups, empty objects for
// WAL and backup files, and real history files.
func synthetic(t *testing.T, backups []Backup, objects []string, histories map[string]string) *Archive {
	t.Helper()
	ctx := context.Background()
	a := New(openTestStore(t), LZ4, 2)
	for _, b := range backups {
		s := Sentinel{StartLSN: b.StartLSN, FinishLSN: b.FinishLSN, Version: 2, StartTime: b.StartTime, FinishTime: b.FinishTime,
			IsPermanent: b.IsPermanent}
		if err := a.putJSON(ctx, sentinelKey(b.Name), s); err != nil {
			t.Fatal(err)
		}
		a.putJSON(ctx, BackupFolder+b.Name+"/"+MetadataFile, Metadata{})
		a.Store.Put(ctx, BackupFolder+b.Name+"/"+TarPartitions+"part_001.tar.lz4", strings.NewReader("x"))
		time.Sleep(10 * time.Millisecond) // distinct modification times
	}
	for _, o := range objects {
		a.Store.Put(ctx, o, strings.NewReader(""))
	}
	for name, body := range histories {
		a.Store.Put(ctx, WALFolder+name, strings.NewReader(body))
	}
	return a
}

// realParts gives synthetic backups the tar objects verify opens: WAL-G's part, pg_control.tar
// and backup_label.tar as lz4 tars, listed in files_metadata.json.
func realParts(t *testing.T, a *Archive, backups ...Backup) *Archive {
	ctx := context.Background()
	for _, b := range backups {
		for _, part := range []string{"part_001.tar", "pg_control.tar", "backup_label.tar"} {
			a.Store.Put(ctx, BackupFolder+b.Name+"/"+TarPartitions+part+".lz4", bytes.NewReader(lz4Tar(t, "/"+part)))
		}
		a.putJSON(ctx, BackupFolder+b.Name+"/"+FilesMetadataFile, FilesMetadata{TarFileSets: map[string][]string{
			"part_001.tar.lz4": {"/"}, "backup_label.tar.lz4": {"backup_label"}}})
	}
	return a
}

// lz4Tar is a small tar with one directory member, lz4-compressed as WAL-G does.
func lz4Tar(t *testing.T, member string) []byte {
	var buf bytes.Buffer
	zw, err := NewCompressor(LZ4, &buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: member, Typeflag: tar.TypeDir, Mode: 0o700})
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func walKeys(segs ...string) []string {
	var out []string
	for _, s := range segs {
		out = append(out, WALFolder+s+".lz4")
	}
	return out
}

func TestVerifySynthetic(t *testing.T) {
	ctx := context.Background()
	b1 := bk("base_000000010000000000000002", 0x2000028, 0x2000100, t0)
	off := bk("base_000000010000000000000006", 0x6000028, 0x6000100, t0.Add(time.Hour)) // TL1 after the branch
	objects := walKeys("000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
		"000000020000000000000005", "000000020000000000000006", "000000020000000000000007", "000000020000000000000009")
	objects = append(objects, WALFolder+"000000010000000000000005.partial.lz4", WALFolder+"000000010000000000000002.00000028.backup.lz4")
	hist := map[string]string{"00000002.history": "1\t0/5800000\tno recovery target specified\n"}
	a := realParts(t, synthetic(t, []Backup{b1, off}, objects, hist), b1, off)
	r, err := a.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Timeline.TLI != 2 || r.From.Name() != "000000010000000000000002" || r.To.Name() != "000000020000000000000009" || r.Checked != 8 {
		t.Errorf("range %+v", r)
	}
	if len(r.Gaps) != 1 || r.Gaps[0].First.Name() != "000000020000000000000008" || r.Gaps[0].Last != r.Gaps[0].First {
		t.Errorf("gaps %+v, want only 000000020000000000000008", r.Gaps)
	}
	if len(r.OffBranch) != 1 || r.OffBranch[0] != off.Name {
		t.Errorf("off-branch %v", r.OffBranch)
	}
	if len(r.Other) != 1 || r.Other[0].First.Name() != "000000010000000000000006" {
		t.Errorf("off-branch gaps %+v", r.Other)
	}
	if r.OK() {
		t.Error("report with gaps is OK")
	}
	var sb strings.Builder
	r.Print(&sb)
	if !strings.Contains(sb.String(), "MISSING 000000020000000000000008 .. 000000020000000000000008") {
		t.Errorf("printed report:\n%s", sb.String())
	}

	// Complete archive, one timeline: OK.
	a = realParts(t, synthetic(t, []Backup{b1}, walKeys("000000010000000000000002", "000000010000000000000003"), nil), b1)
	if r, err := a.Verify(ctx); err != nil || !r.OK() || r.Checked != 2 {
		t.Errorf("complete archive: %+v %v", r, err)
	}
	// A part files_metadata.json lists but the archive lacks, a damaged part and a missing
	// pg_control.tar are problems of that backup.
	a = realParts(t, synthetic(t, []Backup{b1}, walKeys("000000010000000000000002", "000000010000000000000003"), nil), b1)
	parts := BackupFolder + b1.Name + "/" + TarPartitions
	a.Store.Delete(ctx, parts+"backup_label.tar.lz4", parts+"pg_control.tar.lz4")
	a.Store.Put(ctx, parts+"part_001.tar.lz4", strings.NewReader("not lz4"))
	r, err = a.Verify(ctx)
	if err != nil || r.OK() || len(r.Backups) != 1 || len(r.Backups[0].Problems) != 3 {
		t.Errorf("damaged backup: %+v %v", r.Backups, err)
	}
	sb.Reset()
	r.Print(&sb)
	for _, want := range []string{"lists backup_label.tar.lz4", "pg_control.tar is missing", "part_001.tar.lz4 is not readable"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, sb.String())
		}
	}
	// A missing history file of the newest timeline is a problem.
	a = realParts(t, synthetic(t, []Backup{b1}, walKeys("000000010000000000000002", "000000020000000000000003"), nil), b1)
	if r, _ := a.Verify(ctx); r.OK() || len(r.Problems) == 0 {
		t.Errorf("missing history accepted: %+v", r)
	}
	// A backup whose own WAL is not archived yet: its range counts.
	b4 := bk("base_000000010000000000000004", 0x4000028, 0x5000100, t0)
	a = realParts(t, synthetic(t, []Backup{b4}, nil, nil), b4)
	if r, _ := a.Verify(ctx); r.OK() || len(r.Gaps) != 1 || r.Gaps[0].Last.Name() != "000000010000000000000005" {
		t.Errorf("backup without WAL: %+v", r)
	}
}

func TestPlanDeleteSynthetic(t *testing.T) {
	ctx := context.Background()
	b1 := bk("base_000000010000000000000002", 0x2000028, 0x2000100, t0)
	b2 := bk("base_000000010000000000000004", 0x4000028, 0x4000100, t0.Add(time.Hour))
	b3 := bk("base_000000020000000000000006", 0x6000028, 0x6000100, t0.Add(2*time.Hour))
	objects := walKeys("000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
		"000000010000000000000004", "000000020000000000000005", "000000020000000000000006")
	objects = append(objects,
		WALFolder+"000000010000000000000003.partial.lz4",
		WALFolder+"000000010000000000000002.00000028.backup.lz4",
		BackupFolder+"base_000000010000000000000001/tar_partitions/part_001.tar.lz4", // abandoned attempt
		BackupFolder+"base_000000020000000000000009/tar_partitions/part_001.tar.lz4", // in progress
		OwnerObject)
	hist := map[string]string{"00000002.history": "1\t0/5800000\tx\n"}
	a := synthetic(t, []Backup{b1, b2, b3}, objects, hist)

	plan, err := a.PlanDelete(ctx, DeleteRequest{Retain: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		BackupFolder + "base_000000010000000000000001/tar_partitions/part_001.tar.lz4",
		BackupFolder + "base_000000010000000000000002/metadata.json",
		BackupFolder + "base_000000010000000000000002/tar_partitions/part_001.tar.lz4",
		BackupFolder + "base_000000010000000000000002_backup_stop_sentinel.json",
		WALFolder + "000000010000000000000001.lz4",
		WALFolder + "000000010000000000000002.00000028.backup.lz4",
		WALFolder + "000000010000000000000002.lz4",
		WALFolder + "000000010000000000000003.lz4",
		WALFolder + "000000010000000000000003.partial.lz4",
	}
	got := slices.Clone(plan.Objects)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects to delete:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if plan.Objects[0] != sentinelKey(b1.Name) {
		t.Errorf("the sentinel is not deleted first: %v", plan.Objects[:1])
	}
	if plan.WALCutoff != 4 {
		t.Errorf("cutoff %d", plan.WALCutoff)
	}
	// Dry run changes nothing; confirm deletes exactly the plan.
	if _, err := a.Delete(ctx, DeleteRequest{Retain: 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.ListBackups(ctx); len(l) != 3 {
		t.Fatalf("dry run deleted backups: %d left", len(l))
	}
	if _, err := a.Delete(ctx, DeleteRequest{Retain: 2, Confirm: true}, io.Discard); err != nil {
		t.Fatal(err)
	}
	l, _ := a.ListBackups(ctx)
	if len(l) != 2 || l[0].Name != b2.Name || l[1].Name != b3.Name {
		t.Errorf("after retain 2: %v", l)
	}
	for _, keep := range []string{OwnerObject, WALFolder + "00000002.history", WALFolder + "000000010000000000000004.lz4",
		BackupFolder + "base_000000020000000000000009/tar_partitions/part_001.tar.lz4"} {
		if _, err := a.Store.Stat(ctx, keep); err != nil {
			t.Errorf("%s deleted: %v", keep, err)
		}
	}
	// No backups: refuse.
	empty := New(openTestStore(t), LZ4, 2)
	if _, err := empty.PlanDelete(ctx, DeleteRequest{Retain: 1}); err == nil {
		t.Error("delete on an archive without backups accepted")
	}
}

func TestPlanRestoreSynthetic(t *testing.T) {
	ctx := context.Background()
	b1 := bk("base_000000010000000000000002", 0x2000028, 0x2000100, t0)
	b3 := bk("base_000000010000000000000006", 0x6000028, 0x6000100, t0.Add(2*time.Hour)) // off TL2's branch
	hist := map[string]string{"00000002.history": "1\t0/5800000\tx\n"}
	a := synthetic(t, []Backup{b1, b3}, walKeys("000000020000000000000007"), hist)
	plan, err := a.PlanRestore(ctx, RestoreRequest{Binary: "/bin/charm"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Backup.Name != b1.Name || plan.SignalFile != "recovery.signal" || plan.Settings.RecoveryTargetTime != "" ||
		plan.Settings.RecoveryTargetTimeline != "latest" || !strings.Contains(plan.Settings.RestoreCommand, "/bin/charm wal-fetch") {
		t.Errorf("latest plan %+v", plan)
	}
	plan, err = a.PlanRestore(ctx, RestoreRequest{Binary: "/bin/charm", TargetTimeline: "1", TargetTime: t0.Add(3 * time.Hour), Action: "pause"})
	if err != nil || plan.Backup.Name != b3.Name || plan.Settings.RecoveryTargetAction != "pause" || plan.Settings.RecoveryTargetTimeline != "1" {
		t.Errorf("timeline 1 plan %+v %v", plan, err)
	}
	plan, err = a.PlanRestore(ctx, RestoreRequest{Binary: "/bin/charm", Standby: true})
	if err != nil || plan.SignalFile != "standby.signal" || plan.Settings.RecoveryTargetTime != "" {
		t.Errorf("standby plan %+v %v", plan, err)
	}
	for _, bad := range []RestoreRequest{{}, {Binary: "x", TargetTimeline: "sideways"}, {Binary: "x", TargetTime: t0, Action: "explode"}} {
		if _, err := a.PlanRestore(ctx, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
