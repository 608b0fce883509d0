package charm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/wal"
)

func TestRestoreTarget(t *testing.T) {
	yes := true
	good := map[string]restoreParams{
		"latest":    {},
		"time":      {TargetTime: "2026-12-04 01:00:00+00"},
		"lsn":       {TargetLSN: "0/3000028", TargetInclusive: &yes},
		"xid":       {TargetXID: paramString("7654")},
		"name":      {TargetName: "before-upgrade"},
		"immediate": {Target: "immediate"},
		"explicit":  {Target: "latest"},
	}
	for name, p := range good {
		req, err := restoreTarget(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "immediate" && !req.TargetImmediate || name == "lsn" && (req.TargetLSN != "0/3000028" || req.TargetInclusive == nil) ||
			name == "time" && req.TargetTime.IsZero() || req.Action != "promote" {
			t.Errorf("%s: %+v", name, req)
		}
	}
	bad := map[string]struct {
		p    restoreParams
		want string
	}{
		"two":             {restoreParams{TargetTime: "2026-12-04 01:00:00+00", TargetLSN: "0/3000028"}, "give one recovery target"},
		"name and xid":    {restoreParams{TargetName: "x", TargetXID: paramString("1234")}, "give one recovery target"},
		"immediate+time":  {restoreParams{Target: "immediate", TargetTime: "2026-12-04"}, "give one recovery target"},
		"bad lsn":         {restoreParams{TargetLSN: "3000028"}, "target-lsn"},
		"bad xid":         {restoreParams{TargetXID: paramString("-1")}, "transaction ID"},
		"bad name":        {restoreParams{TargetName: "a'; DROP TABLE x; --"}, "target-name"},
		"bad target":      {restoreParams{Target: "soon"}, "want immediate"},
		"bad time":        {restoreParams{TargetTime: "yesterday"}, "target time"},
		"inclusive alone": {restoreParams{TargetInclusive: &yes}, "target-inclusive applies"},
		"inclusive+name":  {restoreParams{TargetName: "x", TargetInclusive: &yes}, "target-inclusive applies"},
	}
	for name, b := range bad {
		if _, err := restoreTarget(b.p); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v; want %q", name, err, b.want)
		}
	}
}

func TestParseRestorePoint(t *testing.T) {
	res, err := parseRestorePoint("restore point nightly at 0/5000090 on timeline 2 (2026-12-04T01:02:03.456789Z)\n")
	if err != nil || res["name"] != "nightly" || res["lsn"] != "0/5000090" || res["timeline"] != "2" || res["time"] != "2026-12-04T01:02:03.456789Z" {
		t.Fatalf("%v %v", res, err)
	}
	if _, err := parseRestorePoint("something else"); err == nil {
		t.Error("accepted")
	}
}

func TestVerifyResults(t *testing.T) {
	seg := func(n uint64) wal.Segment { return wal.Segment{TLI: 2, SegNo: n} }
	r := archive.VerifyReport{Timeline: wal.Timeline{TLI: 2}, From: seg(2), To: seg(9), Checked: 8,
		Gaps: []archive.Gap{{First: seg(4), Last: seg(5)}, {First: seg(8), Last: seg(8)}},
		Backups: []archive.BackupCheck{{Name: "base_000000010000000000000002", Format: archive.FormatWALG, Parts: 3},
			{Name: "base_000000010000000000000003_00000040", Format: archive.FormatWALE, Parts: 1, Problems: []string{"part_00000000.tar.lzo is not readable"}}}}
	res := verifyResults(r)
	for k, want := range map[string]string{"ok": "false", "timeline": "2", "segments-checked": "8", "segments-missing": "3",
		"gaps": "000000020000000000000004..000000020000000000000005 000000020000000000000008", "from": "000000020000000000000002",
		"backups.base-000000010000000000000002.tar-objects-readable": "3",
		"backups.base-000000010000000000000003-00000040.format":      "wal-e",
		"backups.base-000000010000000000000003-00000040.problems":    "part_00000000.tar.lzo is not readable"} {
		if res[k] != want {
			t.Errorf("%s = %q, want %q", k, res[k], want)
		}
	}
}

// TestRestoreParamsTyped: `juju run ... target-timeline=2 target-xid=1234` sends numbers.
func TestRestoreParamsTyped(t *testing.T) {
	var p restoreParams
	if err := json.Unmarshal([]byte(`{"storage-uri":"swift://walex_1","target-timeline":2,"target-xid":1234,"target-name":2026}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.TargetTimeline != "2" || p.TargetXID != "1234" || p.TargetName != "2026" {
		t.Fatalf("%+v", p)
	}
	if err := json.Unmarshal([]byte(`{"target-timeline":"latest","target-xid":""}`), &p); err != nil || p.TargetTimeline != "latest" || p.TargetXID != "" {
		t.Fatalf("%+v %v", p, err)
	}
	if err := json.Unmarshal([]byte(`{"target-timeline":true}`), &p); err == nil {
		t.Fatal("a boolean timeline accepted")
	}
}
