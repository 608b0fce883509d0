package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/wal"
)

// markerDir is where wal-push records files it uploaded ahead of PostgreSQL's request, relative
// to pg_wal; the same place as WAL-G, so switching tools keeps working.
const markerDir = "walg_data/walg_archive_status"

// PushOptions tune WALPush.
type PushOptions struct {
	// PGData is the data directory; empty means the parent of the file's directory (pg_wal).
	PGData string
	// AheadLimit bounds how many other .ready files one call uploads ahead (default 32, as
	// WAL-G); 0 uses the default, negative disables.
	AheadLimit int
	// Workers is the number of parallel uploads ahead (default: the archive's Concurrency,
	// at least 8, since uploads wait on the network far more than on the CPU).
	Workers int
}

// ErrWALMismatch is wrapped by wal-push when the archive already holds a different file under
// the same name: never overwritten, since the archived one may be what a backup needs.
var ErrWALMismatch = errors.New("archive already holds a different file under this name")

// WALPush archives the WAL file at path (archive_command's %p). It is idempotent, refuses
// another cluster's archive, and uploads other files PostgreSQL has marked .ready in parallel,
// leaving markers so that PostgreSQL's later calls for them return at once.
func (a *Archive) WALPush(ctx context.Context, path string, opt PushOptions) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", path, err)
	}
	name := filepath.Base(abs)
	walDir := filepath.Dir(abs)
	kind := wal.Classify(name)
	if kind == wal.KindOther {
		return fmt.Errorf("wal-push %s: %q is not a WAL segment, history, partial or backup file name", path, name)
	}
	if opt.PGData == "" {
		opt.PGData = filepath.Dir(walDir)
	}
	if opt.AheadLimit == 0 {
		opt.AheadLimit = 32
	}
	if a.takeMarker(walDir, name) {
		a.logf("wal-push %s: already uploaded ahead", name)
		return nil
	}
	sysid, err := walSystemID(abs, kind, opt.PGData)
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	if err := a.CheckOwner(ctx, sysid, ReadPgMajor(opt.PGData)); err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}

	var ahead []string
	if opt.AheadLimit > 0 {
		ahead = a.readyFiles(walDir, name, opt.AheadLimit)
	}
	known := a.archivedAmong(ctx, append([]string{name}, ahead...))

	var wg sync.WaitGroup
	if len(ahead) > 0 {
		jobs := make(chan string)
		if opt.Workers <= 0 {
			opt.Workers = max(8, a.Concurrency)
		}
		for range opt.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for other := range jobs {
					// Failures here are not ours to report: PostgreSQL asks for the file
					// itself later and sees the error then.
					if err := a.pushAhead(ctx, walDir, other, opt.PGData, sysid, known); err != nil {
						a.logf("wal-push %s (ahead): %v", other, err)
					}
				}
			}()
		}
		go func() {
			defer close(jobs)
			for _, other := range ahead {
				select {
				case jobs <- other:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	err = a.pushFile(ctx, abs, name, known)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	return nil
}

// walSystemID names the cluster a WAL file comes from: a segment's own header says so; for
// history, partial and backup files the data directory's pg_control does.
func walSystemID(path string, kind wal.Kind, pgdata string) (uint64, error) {
	if kind == wal.KindSegment {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		head := make([]byte, walLongHeaderLen)
		if _, err := io.ReadFull(f, head); err != nil {
			return 0, fmt.Errorf("read WAL header: %w", err)
		}
		h, err := ParseSegmentHeader(head)
		if err != nil {
			return 0, err
		}
		// Never archive a file under a name its header contradicts: restore would replay it
		// in the wrong place.
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		seg, _ := wal.ParseSegment(filepath.Base(path))
		if err := checkSegmentHead(seg, head, st.Size()); err != nil {
			return 0, err
		}
		return h.SysID, nil
	}
	return ReadControlSystemID(pgdata)
}

// ArchiveCommand is the archive_command that pushes WAL with this binary and configuration to
// the archive uri (the configuration's wal_e_storage_uri).
//
// PostgreSQL starts a shell for every archive_command, one WAL file at a time. Under load most
// calls are for files an earlier call already uploaded ahead, so the shell answers those itself
// from the marker (builtins only) and starts the binary only for the rest: the binary links
// every store's SDK and takes tens of milliseconds to start, which would otherwise bound
// archiving at a few dozen segments per second. The marker must name this very archive, as in
// TakeMarker; a marker the shell accepts stays behind and the next full wal-push removes it
// once PostgreSQL has marked the file done.
func ArchiveCommand(binary, configPath, uri string) string {
	if configPath == "" {
		configPath = DefaultConfigPath
	}
	push := "exec " + shellQuote(binary) + " wal-push --config " + shellQuote(configPath) + ` "%p"`
	u, err := store.ParseURI(uri)
	if err != nil {
		return push // the binary reports the bad URI
	}
	return `{ read -r m <"pg_wal/` + markerDir + `/%f"; } 2>/dev/null && [ "$m" = ` + shellQuote(u.String()) + " ] || " + push
}

// takeMarker consumes the marker an earlier call left for name; true when name was uploaded
// (to this same archive) ahead of PostgreSQL's request.
func (a *Archive) takeMarker(walDir, name string) bool {
	return TakeMarker(filepath.Join(walDir, name), a.Store.String())
}

// TakeMarker consumes the marker an earlier wal-push left for the WAL file at path; true when
// that file was uploaded ahead to the archive storeURI (canonical form, store.URI.String).
// The CLI calls it before opening the store, so that PostgreSQL's calls for files already
// uploaded cost no network round trip.
func TakeMarker(path, storeURI string) bool {
	p := filepath.Join(filepath.Dir(path), markerDir, filepath.Base(path))
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	os.Remove(p)
	// A marker left while archiving to another URI proves nothing about this archive.
	return strings.TrimSpace(string(b)) == storeURI
}

// readyFiles lists up to limit files PostgreSQL has marked ready for archiving, other than
// skip and those already uploaded ahead, oldest first; it also drops stale markers.
func (a *Archive) readyFiles(walDir, skip string, limit int) []string {
	status := filepath.Join(walDir, "archive_status")
	entries, err := os.ReadDir(status)
	if err != nil {
		return nil
	}
	ready := map[string]bool{}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".ready")
		if !ok || wal.Classify(n) == wal.KindOther {
			continue
		}
		ready[n] = true
		if n != skip {
			names = append(names, n)
		}
	}
	marked := map[string]bool{}
	if ms, err := os.ReadDir(filepath.Join(walDir, markerDir)); err == nil {
		for _, m := range ms {
			if !ready[m.Name()] {
				os.Remove(filepath.Join(walDir, markerDir, m.Name()))
				continue
			}
			marked[m.Name()] = true
		}
	}
	// History files first: a timeline switch is worth archiving before anything else.
	sort.Slice(names, func(i, j int) bool {
		hi, hj := wal.Classify(names[i]) == wal.KindHistory, wal.Classify(names[j]) == wal.KindHistory
		if hi != hj {
			return hi
		}
		return names[i] < names[j]
	})
	var out []string
	for _, n := range names {
		if len(out) == limit {
			break
		}
		if !marked[n] {
			out = append(out, n)
		}
	}
	return out
}

// pushAhead uploads a file PostgreSQL has not asked for yet and leaves a marker for it.
func (a *Archive) pushAhead(ctx context.Context, walDir, name, pgdata string, sysid uint64, known archivedFiles) error {
	p := filepath.Join(walDir, name)
	kind := wal.Classify(name)
	id, err := walSystemID(p, kind, pgdata)
	if err != nil {
		return err
	}
	if id != sysid {
		return fmt.Errorf("file belongs to system identifier %d, not %d", id, sysid)
	}
	if err := a.pushFile(ctx, p, name, known); err != nil {
		return err
	}
	dir := filepath.Join(walDir, markerDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	if err := atomicfile.Write(ctx, filepath.Join(dir, name), strings.NewReader(a.Store.String()+"\n"), 0o600, nil); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	return nil
}

// findWAL lists the archive objects holding the WAL file name, in any compression.
func (a *Archive) findWAL(ctx context.Context, name string) ([]store.Object, error) {
	objs, err := a.Store.List(ctx, WALFolder+name)
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", WALFolder, name, err)
	}
	return walObjectsNamed(objs, name), nil
}

func walObjectsNamed(objs []store.Object, name string) []store.Object {
	var out []store.Object
	for _, o := range objs {
		if n, _ := SplitExt(strings.TrimPrefix(o.Name, WALFolder)); n == name {
			out = append(out, o)
		}
	}
	return out
}

// findWALToRead is findWAL for wal-fetch and prefetch: also under the leading-slash names
// (WAL-E's on Swift and GCS) when the ordinary ones hold nothing.
func (a *Archive) findWALToRead(ctx context.Context, name string) ([]store.Object, error) {
	objs, err := a.listFallback(ctx, WALFolder+name, func(objs []store.Object) bool { return len(walObjectsNamed(objs, name)) > 0 })
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", WALFolder, name, err)
	}
	return walObjectsNamed(objs, name), nil
}

// archivedFiles maps WAL file names to their archive objects (any compression), for a set of
// names looked up together; a name of the set that is absent is not archived.
type archivedFiles map[string][]store.Object

// archivedAmong looks up which of names the archive holds with one listing when they share a
// log (the 256 segments whose names share their first 22 characters; a typical batch of
// uploads ahead), instead of one listing each. nil means: look each one up.
func (a *Archive) archivedAmong(ctx context.Context, names []string) archivedFiles {
	if len(names) < 2 {
		return nil
	}
	prefix := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(prefix) < 22 {
		return nil // a listing could cover the whole archive
	}
	objs, err := a.Store.List(ctx, WALFolder+prefix)
	if err != nil {
		return nil // each file's own lookup reports the error
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := archivedFiles{}
	for _, o := range objs {
		if n, _ := SplitExt(strings.TrimPrefix(o.Name, WALFolder)); want[n] {
			found[n] = append(found[n], o)
		}
	}
	return found
}

// pushFile uploads one WAL file unless the archive already has it (known, when not nil, says
// whether it does). Identical content counts as success (PostgreSQL retries after crashes);
// different content is an error and the archived object stays.
func (a *Archive) pushFile(ctx context.Context, path, name string, known archivedFiles) error {
	existing := known[name]
	if known == nil {
		var err error
		if existing, err = a.findWAL(ctx, name); err != nil {
			return err
		}
	}
	if len(existing) > 0 {
		key := preferredObject(existing)
		same, err := a.sameContent(ctx, key, path)
		if err != nil {
			return fmt.Errorf("compare with archived %s: %w", key, err)
		}
		if !same {
			return fmt.Errorf("%s: %w (%s differs from the local file; refusing to overwrite)", name, ErrWALMismatch, key)
		}
		a.logf("wal-push %s: already archived with the same content", name)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	key := a.Compression.AddExt(WALFolder + name)
	if st, err := f.Stat(); err == nil && st.Size() <= maxWholeWAL {
		err := a.putWhole(ctx, key, f, st.Size())
		if !errors.Is(err, errNotWhole) {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	return a.putCompressed(ctx, key, f)
}

// maxWholeWAL is the largest WAL file compressed whole in memory before its upload (the
// default 16 MiB segments and up to 64 MiB ones); larger wal_segment_size values stream.
const maxWholeWAL = 64 << 20

// wholeBuffers keeps the buffers putWhole compresses into for the next upload, at most one per
// upload in flight.
var wholeBuffers = make(chan *wholeBuffer, 64)

// wholeBuffer is memory mapped from the kernel, not allocated from Go's heap: a heap buffer
// is zeroed whole whenever it reuses freed memory, so each would be resident at its full
// capacity (room for an incompressible segment) where only the pages compressed data touched
// (a third of a segment for typical WAL) need be.
type wholeBuffer struct {
	mem   []byte // the mapping
	limit int    // what this upload asked for (a reused mapping may be larger)
	n     int    // bytes written
}

func getWholeBuffer(capacity int) (*wholeBuffer, error) {
	select {
	case w := <-wholeBuffers:
		if len(w.mem) >= capacity {
			w.n, w.limit = 0, capacity
			return w, nil
		}
		// Too small (a history file's): dropped, not unmapped (see putWholeBuffer).
	default:
	}
	mem, err := syscall.Mmap(-1, 0, capacity, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%w: map a buffer: %v", errNotWhole, err)
	}
	return &wholeBuffer{mem: mem, limit: capacity}, nil
}

// putWholeBuffer keeps w for the next upload. A buffer is never unmapped: after an early error
// response the HTTP transport may still be reading a request body when Put has returned, and
// reading unmapped memory would crash the process (reading a reused buffer only garbles a
// request that already failed). wal-push processes are short-lived, and more buffers than
// uploads in flight are never made.
func putWholeBuffer(w *wholeBuffer) {
	select {
	case wholeBuffers <- w:
	default:
	}
}

// errNotWhole says that a file cannot be compressed whole in memory: it compressed to more than
// its buffer holds (it grew while read), or no buffer could be mapped. The caller streams it.
var errNotWhole = errors.New("cannot compress the file whole in memory")

func (w *wholeBuffer) Write(p []byte) (int, error) {
	if len(p) > w.limit-w.n {
		return 0, errNotWhole
	}
	w.n += copy(w.mem[w.n:], p)
	return len(p), nil
}

// putWhole compresses the size bytes of r into a recycled buffer and uploads it from there:
// one request, with no pipe between compressor and upload and no copy into a part buffer,
// which the profile of a WAL burst showed (memory moves, page faults and zeroing of a fresh
// 16 MiB part buffer per upload). r must be at its start; on errNotWhole the caller streams.
func (a *Archive) putWhole(ctx context.Context, key string, r io.Reader, size int64) error {
	// Room for incompressible data plus framing (lz4's bound is size + size/255 + 16 per
	// block, zstd's is smaller).
	buf, err := getWholeBuffer(int(size + size/128 + 64<<10))
	if err != nil {
		return err
	}
	defer putWholeBuffer(buf)
	zw, err := newWALCompressor(a.Compression, buf)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return fmt.Errorf("compress %s: %w", key, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", key, err)
	}
	if err := a.Store.Put(ctx, key, store.NewBytes(buf.mem[:buf.n])); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// putCompressed streams r through the archive's compressor into the object key.
func (a *Archive) putCompressed(ctx context.Context, key string, r io.Reader) error {
	_, _, err := a.putCompressedCount(ctx, key, r)
	return err
}

// putCompressedCount is putCompressed returning the bytes read and the bytes stored.
func (a *Archive) putCompressedCount(ctx context.Context, key string, r io.Reader) (raw, stored int64, err error) {
	pr, pw := io.Pipe()
	cr := &countingReader{r: r}
	go func() {
		cw := &countingWriter{w: pw}
		zw, err := NewCompressor(a.Compression, cw)
		if err == nil {
			_, err = io.Copy(zw, cr)
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
		}
		stored = cw.n
		pw.CloseWithError(err)
	}()
	err = a.Store.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("upload ended"))
	if err != nil {
		return 0, 0, fmt.Errorf("upload %s: %w", key, err)
	}
	return cr.n, stored, nil
}

// sameContent compares an archived object, decompressed, with a local file.
func (a *Archive) sameContent(ctx context.Context, key, path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	rc, err := a.getDecompressedFrom(ctx, a.Store, key)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	return sameReaders(rc, f)
}

func sameReaders(x, y io.Reader) (bool, error) {
	bx, by := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		nx, errx := io.ReadFull(x, bx)
		ny, erry := io.ReadFull(y, by)
		if errx != nil && errx != io.EOF && errx != io.ErrUnexpectedEOF {
			return false, errx
		}
		if erry != nil && erry != io.EOF && erry != io.ErrUnexpectedEOF {
			return false, erry
		}
		if nx != ny || !bytes.Equal(bx[:nx], by[:ny]) {
			return false, nil
		}
		if nx < len(bx) {
			return true, nil
		}
	}
}

// getDecompressed opens an archived object for reading (see src) and decompresses it by its
// extension.
func (a *Archive) getDecompressed(ctx context.Context, key string) (io.ReadCloser, error) {
	return a.getDecompressedFrom(ctx, a.src(), key)
}

// getDecompressedFrom is getDecompressed from a given store: pushes compare with what the
// ordinary names hold, never with a WAL-E archive under the leading-slash names.
func (a *Archive) getDecompressedFrom(ctx context.Context, st store.Store, key string) (io.ReadCloser, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	_, ext := SplitExt(key[strings.LastIndexByte(key, '/')+1:])
	dr, err := NewDecompressor(ext, rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return readCloser{dr, func() error { dr.Close(); return rc.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
