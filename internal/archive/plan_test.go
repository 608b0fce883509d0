package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/ulikunitz/xz/lzma"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

var t0 = time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)

func bk(name string, start, finish wal.LSN, finishAt time.Time) Backup {
	s, _ := ParseBackupName(name)
	return Backup{Name: name, Timeline: s.TLI, StartLSN: start, FinishLSN: finish, StartTime: finishAt.Add(-time.Minute),
		FinishTime: finishAt, Modified: finishAt}
}

func TestChooseBackup(t *testing.T) {
	h, _ := wal.ParseHistory(strings.NewReader("1\t0/5800000\tx\n"))
	tl2 := wal.Timeline{TLI: 2, History: h}
	b1 := bk("base_000000010000000000000002", 0x2000028, 0x2000100, t0)
	b2 := bk("base_000000010000000000000004", 0x4000028, 0x4000100, t0.Add(time.Hour))
	// On timeline 1 after the branch point: timeline 2 never saw it.
	b3 := bk("base_000000010000000000000006", 0x6000028, 0x6000100, t0.Add(2*time.Hour))
	b4 := bk("base_000000020000000000000007", 0x7000028, 0x7000100, t0.Add(3*time.Hour))
	// Finished exactly at the branch point: usable.
	b5 := bk("base_000000010000000000000005", 0x5000028, 0x5800000, t0.Add(90*time.Minute))
	all := []Backup{b1, b2, b3, b4, b5}
	cases := []struct {
		name   string
		target time.Time
		tl     wal.Timeline
		any    bool
		want   string
	}{
		{"latest on tl2", time.Time{}, tl2, false, b4.Name},
		{"between b2 and b5", t0.Add(80 * time.Minute), tl2, false, b2.Name},
		{"after b5", t0.Add(100 * time.Minute), tl2, false, b5.Name},
		{"after b3 but b3 off branch", t0.Add(150 * time.Minute), tl2, false, b5.Name},
		{"exactly at b1 finish", t0, tl2, false, b1.Name},
		{"tl1 latest", time.Time{}, wal.Timeline{TLI: 1}, false, b3.Name},
		{"any timeline", time.Time{}, wal.Timeline{TLI: 1}, true, b4.Name},
		{"tl1 at 2h30", t0.Add(150 * time.Minute), wal.Timeline{TLI: 1}, false, b3.Name},
	}
	for _, c := range cases {
		got, err := ChooseBackup(all, c.target, c.tl, c.any)
		if err != nil || got.Name != c.want {
			t.Errorf("%s: got %s, %v; want %s", c.name, got.Name, err, c.want)
		}
	}
	if _, err := ChooseBackup(all, t0.Add(-time.Second), tl2, false); err == nil || !strings.Contains(err.Error(), "finished after the target") {
		t.Errorf("target before every backup: %v", err)
	}
	d := bk("base_000000020000000000000009_D_000000020000000000000007", 0x9000028, 0x9000100, t0.Add(4*time.Hour))
	d.IsDelta = true
	if got, err := ChooseBackup(append(all, d), time.Time{}, tl2, false); err != nil || got.Name != b4.Name {
		t.Errorf("delta backup chosen or error: %s %v", got.Name, err)
	}
	if _, err := ChooseBackup([]Backup{d}, time.Time{}, tl2, false); err == nil || !strings.Contains(err.Error(), "delta") {
		t.Errorf("only a delta backup: %v", err)
	}
	if _, err := ChooseBackup(nil, time.Time{}, tl2, false); err == nil {
		t.Error("empty archive accepted")
	}
	if _, err := ChooseBackup([]Backup{b3}, time.Time{}, tl2, false); err == nil || !strings.Contains(err.Error(), "other branches") {
		t.Errorf("off-branch only: %v", err)
	}
}

func TestRecoverySettings(t *testing.T) {
	s := RecoverySettings{RestoreCommand: RestoreCommand("/usr/bin/charm", "/etc/x y/a.json", "s3://b/p"),
		RecoveryTargetTime:     FormatTargetTime(time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.FixedZone("x", 3600))),
		RecoveryTargetTimeline: "latest", RecoveryTargetAction: "promote"}
	want := `restore_command = 'mv -f "pg_wal/.wal-g/prefetch/%f" "%p" 2>/dev/null || exec /usr/bin/charm wal-fetch --config ''/etc/x y/a.json'' --uri s3://b/p "%f" "%p"'
recovery_target_time = '2026-01-02 02:04:05.6+00'
recovery_target_timeline = 'latest'
recovery_target_action = 'promote'
`
	if got := s.Conf(); got != want {
		t.Errorf("conf\n%s\nwant\n%s", got, want)
	}
	if got := (RecoverySettings{RestoreCommand: "x"}).Conf(); got != "restore_command = 'x'\n" {
		t.Errorf("minimal conf %q", got)
	}
}

func TestSelectRetained(t *testing.T) {
	var list []Backup
	for i := range 5 {
		b := bk(wal.Segment{TLI: 1, SegNo: uint64(2 + 2*i)}.Name(), wal.LSN(uint64(2+2*i)*wal.SegmentSize+0x28), wal.LSN(uint64(3+2*i)*wal.SegmentSize), t0.Add(time.Duration(i)*time.Hour))
		b.Name = "base_" + b.Name
		list = append(list, b)
	}
	list[1].IsPermanent = true
	names := func(bs []Backup) string {
		var n []string
		for _, b := range bs {
			n = append(n, b.Name[len(b.Name)-2:])
		}
		return strings.Join(n, ",")
	}
	cases := []struct {
		req        DeleteRequest
		keep, drop string
		cutoff     uint64
	}{
		{DeleteRequest{Retain: 2}, "04,08,0A", "02,06", 4},
		{DeleteRequest{Retain: 1}, "04,0A", "02,06,08", 4},
		{DeleteRequest{Retain: 5}, "02,04,06,08,0A", "", 2},
		{DeleteRequest{Retain: 9}, "02,04,06,08,0A", "", 2},
		{DeleteRequest{Before: "base_000000010000000000000008"}, "04,08,0A", "02,06", 4},
		{DeleteRequest{Before: "base_000000010000000000000002"}, "02,04,06,08,0A", "", 2},
	}
	for _, c := range cases {
		keep, drop, err := SelectRetained(list, c.req)
		if err != nil {
			t.Fatalf("%+v: %v", c.req, err)
		}
		if names(keep) != c.keep || names(drop) != c.drop || walCutoff(keep) != c.cutoff {
			t.Errorf("%+v: keep %s drop %s cutoff %d; want %s / %s / %d", c.req, names(keep), names(drop), walCutoff(keep), c.keep, c.drop, c.cutoff)
		}
	}
	for _, bad := range []DeleteRequest{{}, {Retain: 1, Before: "x"}, {Before: "base_000000010000000000000003"}} {
		if _, _, err := SelectRetained(list, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestWALObjectSegNo(t *testing.T) {
	cases := map[string]int64{
		"wal_005/000000010000000000000003.lz4":             3,
		"wal_005/000000020000000100000003":                 0x103,
		"wal_005/000000010000000000000003.partial.zst":     3,
		"wal_005/000000010000000000000003.00000028.backup": 3,
		"wal_005/000000010000000000000003.json":            3,
		"wal_005/000000010000000000000003_delta_part":      3,
		"wal_005/00000002.history.lz4":                     -1,
		"wal_005/00000002.history":                         -1,
		"wal_005/garbage":                                  -1,
		"wal_005/000000010000000000000003X":                -1,
	}
	for key, want := range cases {
		n, ok := walObjectSegNo(key)
		if (want < 0) == ok || (ok && int64(n) != want) {
			t.Errorf("walObjectSegNo(%q) = %d, %v; want %d", key, n, ok, want)
		}
	}
}

func TestCompressionRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("WAL record payload 0123456789 "), 300000) // ~9 MiB, crosses lz4 blocks
	for _, c := range []Compression{LZ4, ZSTD, None} {
		var buf bytes.Buffer
		w, err := NewCompressor(c, &buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		r, err := NewDecompressor(c.Ext(), bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s round trip: %v, %d bytes", c, err, len(got))
		}
		if c == None {
			continue
		}
		// A truncated object must fail, never yield short data silently.
		r, _ = NewDecompressor(c.Ext(), bytes.NewReader(buf.Bytes()[:buf.Len()/2]))
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%s: truncated frame read without error", c)
		}
	}
	// gpg output (an OpenPGP public-key encrypted session key packet) is named, not misread.
	if _, err := NewDecompressor("lzo", bytes.NewReader([]byte{0x85, 0x01, 0x0c, 0x03})); err == nil || !strings.Contains(err.Error(), "gpg") {
		t.Errorf("gpg-encrypted lzo: %v", err)
	}
	if _, err := NewDecompressor("gz", nil); err == nil {
		t.Error("gz accepted")
	}
	// WAL-G 3 writes brotli (a raw stream) and lzma (the classic format) with its libraries'
	// writers; we only read them.
	var br, lz bytes.Buffer
	bw := brotli.NewWriterLevel(&br, 3)
	bw.Write(data)
	bw.Close()
	lw, err := lzma.NewWriter(&lz)
	if err != nil {
		t.Fatal(err)
	}
	lw.Write(data)
	lw.Close()
	for ext, body := range map[string][]byte{"br": br.Bytes(), "lzma": lz.Bytes()} {
		r, err := NewDecompressor(ext, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %v, %d bytes", ext, err, len(got))
		}
	}
	for in, want := range map[string]Compression{"": LZ4, "LZ4": LZ4, "zstd": ZSTD, "none": None} {
		if got, err := ParseCompression(in); err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %v %v", in, got, err)
		}
	}
	if _, err := ParseCompression("brotli"); err == nil {
		t.Error("brotli accepted for writing")
	}
}

func TestSentinelJSON(t *testing.T) {
	sysid := uint64(7443117470226329999)
	s := Sentinel{StartLSN: 0x3000028, FinishLSN: 0x3000100, PgVersion: 150004, SystemIdentifier: &sysid, Version: 2,
		Spec: &TablespaceSpec{BasePrefix: "/d", Tablespaces: map[string]TablespaceLocation{"16400": {"/ts/", "pg_tblspc/16400"}}}}
	b, _ := json.Marshal(s)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.Decode(&m)
	if m["LSN"].(json.Number).String() != "50331688" || m["SystemIdentifier"].(json.Number).String() != "7443117470226329999" {
		t.Errorf("sentinel numbers: %s", b)
	}
	spec := m["Spec"].(map[string]any)
	if spec["base_prefix"] != "/d" || spec["16400"].(map[string]any)["loc"] != "/ts/" {
		t.Errorf("spec: %s", b)
	}
	var back Sentinel
	if err := json.Unmarshal(b, &back); err != nil || back.Spec.Tablespaces["16400"].Symlink != "pg_tblspc/16400" || *back.SystemIdentifier != sysid {
		t.Errorf("round trip: %+v %v", back, err)
	}
	// WAL-E's lowercase spec and a sentinel without times.
	var wale Sentinel
	if err := json.Unmarshal([]byte(`{"LSN": 1, "spec": {"base_prefix": "/x", "tablespaces": []}}`), &wale); err != nil || wale.Spec == nil || wale.Spec.BasePrefix != "/x" {
		t.Errorf("WAL-E spec: %+v %v", wale, err)
	}
}

func openTestStore(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "file://"+t.TempDir(), store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOwner(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := New(s, LZ4, 2)
	if o, err := a.ArchiveOwner(ctx); err != nil || o != nil {
		t.Fatalf("fresh archive owner %v %v", o, err)
	}
	if err := a.CheckOwner(ctx, 42, 15); err != nil {
		t.Fatal(err)
	}
	o, err := a.ArchiveOwner(ctx)
	if err != nil || o == nil || o.SystemIdentifier != 42 || o.PgMajor != 15 {
		t.Fatalf("owner %+v %v", o, err)
	}
	other := New(s, LZ4, 2)
	err = other.CheckOwner(ctx, 43, 15)
	if err == nil || !strings.Contains(err.Error(), "42") || !strings.Contains(err.Error(), "43") {
		t.Fatalf("foreign cluster: %v", err)
	}
	if err := New(s, LZ4, 2).CheckOwner(ctx, 42, 15); err != nil {
		t.Errorf("owner refused: %v", err)
	}
}

// An archive without an owner record is claimed only when it holds nothing of another
// database: not another database's backups, not WAL without backups (another tool's).
func TestOwnerClaimsOnlyWhatIsNobodys(t *testing.T) {
	ctx := context.Background()
	foreign := uint64(7)
	withBackup := New(openTestStore(t), LZ4, 2)
	withBackup.putJSON(ctx, sentinelKey("base_000000010000000000000002"), Sentinel{StartLSN: 2 << 24, FinishLSN: 3 << 24,
		SystemIdentifier: &foreign, Version: 2, FinishTime: time.Now()})
	var ue *UnclaimedError
	if err := withBackup.CheckOwner(ctx, 42, 15); !errors.As(err, &ue) || !strings.Contains(err.Error(), "7") {
		t.Errorf("claimed an archive holding another database's backup: %v", err)
	}
	if o, _ := withBackup.ArchiveOwner(ctx); o != nil {
		t.Errorf("owner written: %+v", o)
	}
	if err := New(withBackup.Store, LZ4, 2).CheckOwner(ctx, foreign, 15); err != nil {
		t.Errorf("the backups' own database refused: %v", err)
	}
	walOnly := New(openTestStore(t), LZ4, 2)
	walOnly.Store.Put(ctx, WALFolder+"000000010000000000000002.lz4", strings.NewReader("x"))
	if err := walOnly.CheckOwner(ctx, 42, 15); !errors.As(err, &ue) {
		t.Errorf("claimed an archive holding WAL and no backup: %v", err)
	}
	empty := New(openTestStore(t), LZ4, 2)
	empty.Store.Put(ctx, "someone-else/file", strings.NewReader("x"))
	if err := empty.CheckOwner(ctx, 42, 15); err != nil {
		t.Errorf("an archive with nothing in its folders refused: %v", err)
	}
}

func TestCheckUsable(t *testing.T) {
	ctx := context.Background()
	a := New(openTestStore(t), LZ4, 2)
	if err := a.CheckUsable(ctx, 5); err != nil {
		t.Fatalf("fresh archive: %v", err)
	}
	if o, _ := a.ArchiveOwner(ctx); o != nil {
		t.Fatal("CheckUsable claimed the archive")
	}
	a.CheckOwner(ctx, 5, 15)
	if err := a.CheckUsable(ctx, 5); err != nil {
		t.Errorf("owner: %v", err)
	}
	var fe *ForeignClusterError
	if err := a.CheckUsable(ctx, 6); !errors.As(err, &fe) {
		t.Errorf("other cluster: %v", err)
	}
}

func TestRewriteTablespaceMap(t *testing.T) {
	in := "16400 /srv/ts1\n16401 /srv/ts 2\n"
	got, err := rewriteTablespaceMap(in, map[string]string{"16400": "/srv/ts1", "16401": "/new/place"})
	if err != nil || got != "16400 /srv/ts1\n16401 /new/place\n" {
		t.Errorf("rewritten map %q, %v", got, err)
	}
	if _, err := rewriteTablespaceMap("16402 /etc\n", map[string]string{"16400": "/srv/ts1"}); err == nil {
		t.Error("a tablespace the sentinel does not list was accepted")
	}
}
