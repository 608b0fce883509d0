package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// checkName rejects names that would escape the prefix or address nothing.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty object name")
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return fmt.Errorf("object name %q may not begin or end with /", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("object name %q has an empty, . or .. segment", name)
		}
	}
	return nil
}

// keyPrefix is the bucket-level prefix of a URI with a trailing slash, or "" at the bucket root;
// with Slash, it begins with "/" (so "/" alone at the bucket root).
func keyPrefix(u URI) string {
	p := ""
	if u.Prefix != "" {
		p = u.Prefix + "/"
	}
	if u.Slash {
		p = "/" + p
	}
	return p
}

func sortObjects(objs []Object) []Object {
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	if objs == nil {
		objs = []Object{}
	}
	return objs
}

// Tuning sets the memory and parallelism of large uploads. Memory held by one Put is at most
// PartSize*(Concurrency+1).
type Tuning struct {
	PartSize    int64 // bytes per multipart part / block / segment; objects up to this size go in one request
	Concurrency int   // parts uploaded at once
}

// DefaultTuning keeps one upload under about 80 MiB while filling a fast link.
var DefaultTuning = Tuning{PartSize: 16 << 20, Concurrency: 4}

func (t Tuning) withDefaults() Tuning {
	if t.PartSize <= 0 {
		t.PartSize = DefaultTuning.PartSize
	}
	if t.Concurrency <= 0 {
		t.Concurrency = DefaultTuning.Concurrency
	}
	return t
}

// partPool recycles part buffers of one size.
type partPool struct {
	size int64
	pool sync.Pool
}

func newPartPool(size int64) *partPool {
	p := &partPool{size: size}
	p.pool.New = func() any { b := make([]byte, size); return &b }
	return p
}

func (p *partPool) get() *[]byte  { return p.pool.Get().(*[]byte) }
func (p *partPool) put(b *[]byte) { p.pool.Put(b) }

var (
	poolsMu sync.Mutex
	pools   = map[int64]*partPool{}
)

func poolFor(size int64) *partPool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := pools[size]
	if p == nil {
		p = newPartPool(size)
		pools[size] = p
	}
	return p
}

// readPart fills buf from r; it returns the bytes read and whether r is exhausted.
func readPart(r io.Reader, buf []byte) (int, bool, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return n, true, nil
	case err != nil:
		return n, false, fmt.Errorf("read source: %w", err)
	}
	return n, false, nil
}

// partUploader streams r in parts of t.PartSize with up to t.Concurrency uploads in flight. The
// first part is read before anything is sent: if r ends within it, single(data) uploads the whole
// object in one request. Otherwise begin() starts a multipart upload, upload(n, data) sends part n
// (1-based) and the caller commits or aborts with the numbers returned. Memory is bounded by
// (Concurrency+1) part buffers.
type partUploader struct {
	tuning Tuning
	// growEvery doubles the part size after that many parts (0: never), so that objects far
	// larger than PartSize*maxParts still fit the service's part-count limit.
	growEvery int
	maxPart   int64
	single    func(ctx context.Context, data []byte) error
	begin     func(ctx context.Context) error
	upload    func(ctx context.Context, n int, data []byte) error
}

func (u partUploader) partSize(t Tuning, part int) int64 {
	size := t.PartSize
	if u.growEvery > 0 {
		for i := (part - 1) / u.growEvery; i > 0 && (u.maxPart == 0 || size*2 <= u.maxPart); i-- {
			size *= 2
		}
	}
	return size
}

// run returns the number of parts uploaded (0 when single was used).
func (u partUploader) run(ctx context.Context, r io.Reader) (int, error) {
	t := u.tuning.withDefaults()
	if b, ok := r.(*Bytes); ok && b.Len() == len(b.data) && int64(len(b.data)) <= t.PartSize {
		return 0, u.single(ctx, b.data) // already in memory: no copy into a part buffer
	}
	pool := poolFor(t.PartSize)
	first := pool.get()
	n, eof, err := readPart(r, *first)
	if err != nil {
		pool.put(first)
		return 0, err
	}
	if eof {
		err := u.single(ctx, (*first)[:n])
		pool.put(first)
		return 0, err
	}
	if err := u.begin(ctx); err != nil {
		pool.put(first)
		return 0, err
	}
	type buffer struct {
		b    *[]byte
		pool *partPool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		sem      = make(chan struct{}, t.Concurrency)
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	part, buf, size := 0, buffer{first, pool}, n
	for {
		part++
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			buf.pool.put(buf.b)
			break
		}
		wg.Add(1)
		go func(part int, buf buffer, size int) {
			defer wg.Done()
			defer func() { buf.pool.put(buf.b); <-sem }()
			if err := u.upload(ctx, part, (*buf.b)[:size]); err != nil {
				fail(fmt.Errorf("part %d: %w", part, err))
			}
		}(part, buf, size)
		if eof {
			break
		}
		p := poolFor(u.partSize(t, part+1))
		buf = buffer{p.get(), p}
		size, eof, err = readPart(r, *buf.b)
		if err != nil {
			buf.pool.put(buf.b)
			fail(err)
			break
		}
		if size == 0 && eof {
			buf.pool.put(buf.b)
			break
		}
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return part, firstErr
}

// Bytes is an upload body already in memory (a WAL file compressed whole): Put sends an object
// that fits one part straight from it, in one request, instead of copying it into a part buffer
// first; larger ones, and stores without parts, read it like any reader.
type Bytes struct {
	*bytes.Reader
	data []byte
}

// NewBytes wraps data for Put; data must not change until Put returns.
func NewBytes(data []byte) *Bytes { return &Bytes{bytes.NewReader(data), data} }

// bytesReader is a seekable body for retries and checksums.
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
