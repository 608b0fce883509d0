package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/wal"
)

// fakeSegment is a segment-sized file with a valid long page header and varied content.
func fakeSegment(seg wal.Segment, sysid uint64, seed int64) []byte {
	b := make([]byte, wal.SegmentSize)
	r := rand.New(rand.NewSource(seed))
	for i := 64; i < len(b); i += 4096 {
		r.Read(b[i : i+512]) // partly random, partly zero: compressible like real WAL
	}
	le := binary.LittleEndian
	le.PutUint16(b[0:], 0xD110)
	le.PutUint16(b[2:], xlpLongHeader)
	le.PutUint32(b[4:], seg.TLI)
	le.PutUint64(b[8:], uint64(seg.StartLSN()))
	le.PutUint64(b[24:], sysid)
	le.PutUint32(b[32:], uint32(wal.SegmentSize))
	le.PutUint32(b[36:], 8192)
	return b
}

// fakePGData makes a data directory with pg_control naming sysid and the given segments in
// pg_wal, each marked .ready.
func fakePGData(t *testing.T, sysid uint64, segs ...wal.Segment) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "global"), 0o700)
	os.MkdirAll(filepath.Join(dir, "pg_wal", "archive_status"), 0o700)
	ctl := make([]byte, 8192)
	binary.LittleEndian.PutUint64(ctl, sysid)
	os.WriteFile(filepath.Join(dir, "global", "pg_control"), ctl, 0o600)
	os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600)
	for i, s := range segs {
		os.WriteFile(filepath.Join(dir, "pg_wal", s.Name()), fakeSegment(s, sysid, int64(i)), 0o600)
		os.WriteFile(filepath.Join(dir, "pg_wal", "archive_status", s.Name()+".ready"), nil, 0o600)
	}
	return dir
}

func TestWALPushFetch(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []Compression{LZ4, ZSTD, None} {
		t.Run(string(comp), func(t *testing.T) {
			a := New(openTestStore(t), comp, 4)
			var segs []wal.Segment
			for i := range 6 {
				segs = append(segs, wal.Segment{TLI: 1, SegNo: uint64(3 + i)})
			}
			pgdata := fakePGData(t, 99, segs...)
			walDir := filepath.Join(pgdata, "pg_wal")
			hist := filepath.Join(walDir, "00000002.history")
			os.WriteFile(hist, []byte("1\t0/8000000\tno recovery target specified\n"), 0o600)
			os.WriteFile(filepath.Join(walDir, "archive_status", "00000002.history.ready"), nil, 0o600)

			// The first push uploads everything ready, ahead of PostgreSQL's requests.
			if err := a.WALPush(ctx, filepath.Join(walDir, segs[0].Name()), PushOptions{}); err != nil {
				t.Fatal(err)
			}
			objs, _ := a.Store.List(ctx, WALFolder)
			if len(objs) != 7 {
				t.Fatalf("after one push the archive holds %d objects, want 7: %v", len(objs), objs)
			}
			for _, o := range objs {
				if _, ext := SplitExt(o.Name); ext != comp.Ext() {
					t.Errorf("%s: extension %q, want %q", o.Name, ext, comp.Ext())
				}
			}
			markers, _ := os.ReadDir(filepath.Join(walDir, markerDir))
			if len(markers) != 6 {
				t.Errorf("%d markers, want 6 (segments 2..6 and the history file)", len(markers))
			}
			// PostgreSQL's later calls consume the markers.
			for _, s := range segs[1:] {
				os.Remove(filepath.Join(walDir, "archive_status", s.Name()+".ready"))
				if err := a.WALPush(ctx, filepath.Join(walDir, s.Name()), PushOptions{AheadLimit: -1}); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(walDir, markerDir, s.Name())); err == nil {
					t.Errorf("marker for %s left after PostgreSQL's push", s)
				}
			}
			// Idempotent: same content again succeeds without markers.
			if err := a.WALPush(ctx, filepath.Join(walDir, segs[2].Name()), PushOptions{AheadLimit: -1}); err != nil {
				t.Errorf("second push of identical segment: %v", err)
			}
			// Different content under the same name fails loudly and leaves the archive alone.
			other := fakeSegment(segs[2], 99, 1234)
			os.WriteFile(filepath.Join(walDir, segs[2].Name()), other, 0o600)
			err := a.WALPush(ctx, filepath.Join(walDir, segs[2].Name()), PushOptions{AheadLimit: -1})
			if !errors.Is(err, ErrWALMismatch) {
				t.Errorf("push of different content: %v, want ErrWALMismatch", err)
			}
			if err := a.WALPush(ctx, hist, PushOptions{AheadLimit: -1}); err != nil { // consumes the marker
				t.Fatal(err)
			}
			os.WriteFile(hist, []byte("1\t0/9000000\tother\n"), 0o600)
			if err := a.WALPush(ctx, hist, PushOptions{AheadLimit: -1}); !errors.Is(err, ErrWALMismatch) {
				t.Errorf("push of a different history file: %v, want ErrWALMismatch", err)
			}

			// Fetch: exact bytes, prefetch serves the next ones, missing is ErrWALNotFound.
			dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
			if err := a.WALFetch(ctx, segs[0].Name(), dest, FetchOptions{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, fakeSegment(segs[0], 99, 0)) {
				t.Error("fetched segment differs from the pushed one")
			}
			pdir := DefaultPrefetchDir(dest)
			if err := a.WALPrefetch(ctx, segs[0].Name(), pdir, 3); err != nil {
				t.Fatal(err)
			}
			for _, s := range segs[1:4] {
				if _, err := os.Stat(filepath.Join(pdir, s.Name())); err != nil {
					t.Errorf("segment %s not prefetched: %v", s, err)
				}
			}
			if err := a.WALFetch(ctx, segs[1].Name(), dest, FetchOptions{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, fakeSegment(segs[1], 99, 1)) {
				t.Error("segment served from prefetch differs")
			}
			if _, err := os.Stat(filepath.Join(pdir, segs[1].Name())); err == nil {
				t.Error("prefetched copy not consumed")
			}
			if err := a.WALFetch(ctx, "00000001000000000000007F", dest, FetchOptions{}); !errors.Is(err, ErrWALNotFound) {
				t.Errorf("missing segment: %v, want ErrWALNotFound", err)
			}
			if err := a.WALFetch(ctx, "00000002.history", dest, FetchOptions{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dest); !strings.HasPrefix(string(got), "1\t0/8000000") {
				t.Errorf("history fetched as %q", got)
			}
		})
	}
}

// A damaged object (wrong content for its name, or truncated) is never handed to PostgreSQL.
func TestWALFetchRejectsDamage(t *testing.T) {
	ctx := context.Background()
	a := New(openTestStore(t), LZ4, 2)
	seg := wal.Segment{TLI: 1, SegNo: 5}
	// Content of segment 6 stored under segment 5's name.
	var buf bytes.Buffer
	w, _ := NewCompressor(LZ4, &buf)
	w.Write(fakeSegment(wal.Segment{TLI: 1, SegNo: 6}, 1, 0))
	w.Close()
	a.Store.Put(ctx, WALFolder+seg.Name()+".lz4", bytes.NewReader(buf.Bytes()))
	dest := filepath.Join(t.TempDir(), "x")
	if err := a.WALFetch(ctx, seg.Name(), dest, FetchOptions{}); err == nil {
		t.Error("segment with another segment's header accepted")
	}
	// Truncated frame.
	a.Store.Put(ctx, WALFolder+seg.Name()+".lz4", bytes.NewReader(buf.Bytes()[:buf.Len()/2]))
	if err := a.WALFetch(ctx, seg.Name(), dest, FetchOptions{}); err == nil {
		t.Error("truncated object accepted")
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("a damaged fetch left a file at the destination")
	}
}

func TestWALPushRefusesForeignSegment(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := New(s, LZ4, 2)
	d1 := fakePGData(t, 1001, wal.Segment{TLI: 1, SegNo: 1})
	if err := a.WALPush(ctx, filepath.Join(d1, "pg_wal", wal.Segment{TLI: 1, SegNo: 1}.Name()), PushOptions{}); err != nil {
		t.Fatal(err)
	}
	d2 := fakePGData(t, 2002, wal.Segment{TLI: 1, SegNo: 2})
	err := New(s, LZ4, 2).WALPush(ctx, filepath.Join(d2, "pg_wal", wal.Segment{TLI: 1, SegNo: 2}.Name()), PushOptions{})
	var fe *ForeignClusterError
	if !errors.As(err, &fe) || fe.Owner.SystemIdentifier != 1001 || fe.Ours != 2002 {
		t.Fatalf("foreign push: %v", err)
	}
	if objs, _ := s.List(ctx, WALFolder); len(objs) != 1 {
		t.Errorf("archive holds %d WAL objects after a refused push, want 1", len(objs))
	}
}

// listCounter counts the listings of WAL objects.
type listCounter struct {
	store.Store
	lists atomic.Int32
}

func (c *listCounter) List(ctx context.Context, prefix string) ([]store.Object, error) {
	if strings.HasPrefix(prefix, WALFolder) {
		c.lists.Add(1)
	}
	return c.Store.List(ctx, prefix)
}

// TestWALPushAheadBatch: the files of one push are looked up with one listing, and what that
// listing finds is treated as each file's own lookup would: same content is success (in
// whatever compression), different content is refused and never overwritten.
func TestWALPushAheadBatch(t *testing.T) {
	ctx := context.Background()
	st := &listCounter{Store: openTestStore(t)}
	a := New(st, LZ4, 4)
	var segs []wal.Segment
	for i := range 5 {
		segs = append(segs, wal.Segment{TLI: 1, SegNo: uint64(0x10 + i)})
	}
	pgdata := fakePGData(t, 77, segs...)
	walDir := filepath.Join(pgdata, "pg_wal")
	path := func(s wal.Segment) string { return filepath.Join(walDir, s.Name()) }
	// Already archived before PostgreSQL's first call: segs[2] as it is, segs[3] with other
	// content, segs[4] as it is but with zstd.
	if err := a.WALPush(ctx, path(segs[2]), PushOptions{AheadLimit: -1}); err != nil {
		t.Fatal(err)
	}
	mine, _ := os.ReadFile(path(segs[3]))
	os.WriteFile(path(segs[3]), fakeSegment(segs[3], 77, 999), 0o600)
	if err := a.WALPush(ctx, path(segs[3]), PushOptions{AheadLimit: -1}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path(segs[3]), mine, 0o600)
	if err := New(st, ZSTD, 4).WALPush(ctx, path(segs[4]), PushOptions{AheadLimit: -1}); err != nil {
		t.Fatal(err)
	}

	st.lists.Store(0)
	if err := a.WALPush(ctx, path(segs[0]), PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := st.lists.Load(); n != 1 {
		t.Errorf("%d listings of WAL for one push of 5 files, want 1", n)
	}
	for i, want := range []bool{false, true, true, false, true} {
		_, err := os.Stat(filepath.Join(walDir, markerDir, segs[i].Name()))
		if got := err == nil; got != want {
			t.Errorf("marker for %s: %v, want %v", segs[i], got, want)
		}
	}
	for i, wantExts := range [][]string{{".lz4"}, {".lz4"}, {".lz4"}, {".lz4"}, {".zst"}} {
		objs, _ := st.Store.List(ctx, WALFolder+segs[i].Name())
		var exts []string
		for _, o := range objs {
			_, ext := SplitExt(o.Name)
			exts = append(exts, "."+ext)
		}
		if strings.Join(exts, " ") != strings.Join(wantExts, " ") {
			t.Errorf("%s archived as %v, want %v", segs[i], exts, wantExts)
		}
	}
	// PostgreSQL's own call for the refused file fails loudly; the archived copy stays.
	if err := a.WALPush(ctx, path(segs[3]), PushOptions{AheadLimit: -1}); !errors.Is(err, ErrWALMismatch) {
		t.Errorf("push of segs[3]: %v, want ErrWALMismatch", err)
	}
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if err := a.WALFetch(ctx, segs[3].Name(), dest, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, fakeSegment(segs[3], 77, 999)) {
		t.Error("the archived segs[3] was overwritten")
	}
}

// TestPutWholeOverflow: a file that compresses to more than its buffer holds (it grew after
// its size was taken) is not uploaded cut short; putWhole says so and nothing is stored.
func TestPutWholeOverflow(t *testing.T) {
	ctx := context.Background()
	a := New(openTestStore(t), None, 2)
	data := make([]byte, 256<<10)
	rand.New(rand.NewSource(1)).Read(data)
	if err := a.putWhole(ctx, "wal_005/x", bytes.NewReader(data), 1); !errors.Is(err, errNotWhole) {
		t.Fatalf("putWhole of %d bytes announced as 1: %v", len(data), err)
	}
	if objs, _ := a.Store.List(ctx, "wal_005/"); len(objs) != 0 {
		t.Fatalf("stored %v", objs)
	}
	if err := a.putWhole(ctx, "wal_005/x", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := a.getDecompressed(ctx, "wal_005/x")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if same, err := sameReaders(rc, bytes.NewReader(data)); err != nil || !same {
		t.Errorf("stored object differs: %v", err)
	}
}
