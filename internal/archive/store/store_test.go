package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// source yields n deterministic pseudo-random bytes without holding them in memory.
func source(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}), n)
}

func digest(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n
}

// failingReader delivers n bytes of data then returns err (or, with cancel set, cancels the
// upload's context and keeps delivering data).
type failingReader struct {
	r      io.Reader
	left   int64
	err    error
	cancel context.CancelFunc
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		if f.cancel != nil {
			f.cancel()
			return f.r.Read(p)
		}
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func readAll(t *testing.T, s store.Store, name string) string {
	t.Helper()
	r, err := s.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func names(objs []store.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Name
	}
	return out
}

func mustNotExist(t *testing.T, s store.Store, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stat %s: want ErrNotFound, got %v", name, err)
	}
	if r, err := s.Get(ctx, name); !errors.Is(err, store.ErrNotFound) {
		if err == nil {
			r.Close()
		}
		t.Errorf("get %s: want ErrNotFound, got %v", name, err)
	}
}

// TestStores runs every backend against its real server (those installed; see
// tests/setup/stores.sh), with the servers started once and in parallel.
func TestStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real object-store servers")
	}
	for _, srv := range storetest.All(t, "127.0.0.1") {
		t.Run(srv.Name, func(t *testing.T) {
			t.Logf("%s server started in %s", srv.Name, srv.StartupTime.Round(time.Millisecond))
			testStore(t, srv)
		})
	}
}

// TestS3OverTLS runs the S3 backend against versitygw over HTTPS (where payloads are sent
// unsigned, TLS protecting them). The system's trusted roots are read once per process, so
// the test runs itself again with SSL_CERT_FILE naming the server's certificate.
func TestS3OverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real object-store server")
	}
	if env := os.Getenv("STORE_TEST_TLS_CREDENTIALS"); env != "" {
		srv := storetest.Server{Name: "s3", URI: func(bucket, prefix string) string { return "s3://" + bucket + "/" + prefix }}
		if err := json.Unmarshal([]byte(env), &srv.Creds); err != nil {
			t.Fatal(err)
		}
		testStore(t, &srv)
		return
	}
	srv := storetest.S3TLS(t, "127.0.0.1")
	creds, err := json.Marshal(srv.Creds)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestS3OverTLS$", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+srv.CAFile, "STORE_TEST_TLS_CREDENTIALS="+string(creds))
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestS3OverTLS")) {
		t.Fatalf("S3 over TLS: %v\n%s", err, out)
	}
}

func testStore(t *testing.T, srv *storetest.Server) {
	ctx := context.Background()
	bucket := "arch-" + strings.ToLower(srv.Name)
	s, err := store.Open(ctx, srv.URI(bucket, "cluster/one"), srv.Creds)
	if err != nil {
		t.Fatalf("open (creating the bucket): %v", err)
	}
	if got, want := s.String(), srv.URI(bucket, "cluster/one"); got != want && srv.Name != "file" {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if strings.Contains(s.String(), srv.Creds.AWSSecretAccessKey+"x") || (srv.Creds.OSPassword != "" && strings.Contains(s.String(), srv.Creds.OSPassword)) {
		t.Errorf("String() %q shows a credential", s.String())
	}

	t.Run("RoundTrip", func(t *testing.T) {
		// Sizes around the part size exercise the single-request path, an object of exactly one
		// part (multipart with one part) and a streamed multipart upload.
		part := store.DefaultTuning.PartSize
		for i, size := range []int64{0, 1000, part - 1, part, 64 << 20} {
			name := fmt.Sprintf("rt/obj-%d", size)
			want, _ := digest(t, source(uint64(i), size))
			t0 := time.Now()
			if err := s.Put(ctx, name, source(uint64(i), size)); err != nil {
				t.Fatalf("put %d bytes: %v", size, err)
			}
			up := time.Since(t0)
			o, err := s.Stat(ctx, name)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if o.Name != name || o.Size != size || o.Modified.IsZero() {
				t.Errorf("stat = %+v, want name %s size %d and a time", o, name, size)
			}
			if d := time.Since(o.Modified); d > time.Hour || d < -time.Hour {
				t.Errorf("modified %s is not now", o.Modified)
			}
			t0 = time.Now()
			r, err := s.Get(ctx, name)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, n := digest(t, r)
			r.Close()
			if n != size || got != want {
				t.Fatalf("read back %d bytes (sha256 %x), wrote %d (sha256 %x)", n, got[:8], size, want[:8])
			}
			if size >= 16<<20 {
				t.Logf("%d MiB: put %.0f MB/s, get %.0f MB/s", size>>20, float64(size)/up.Seconds()/1e6, float64(size)/time.Since(t0).Seconds()/1e6)
			}
		}
		// Overwriting replaces the content.
		if err := s.Put(ctx, "rt/obj-1000", strings.NewReader("replaced")); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s, "rt/obj-1000"); got != "replaced" {
			t.Errorf("after overwrite read %q", got)
		}
	})

	t.Run("List", func(t *testing.T) {
		wal := []string{"wal_005/000000010000000000000002.lz4", "wal_005/000000010000000000000001.lz4", "wal_005/00000002.history.lz4"}
		other := []string{"basebackups_005/base_000000010000000000000002/tar_partitions/part_1.tar.lz4", "basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json"}
		for i, n := range append(slices.Clone(wal), other...) {
			if err := s.Put(ctx, n, strings.NewReader(strings.Repeat("x", i+1))); err != nil {
				t.Fatal(err)
			}
		}
		// A sibling prefix that shares the leading characters must stay out of the listing.
		sib, err := store.Open(ctx, srv.URI(bucket, "cluster/one-other"), srv.Creds)
		if err != nil {
			t.Fatal(err)
		}
		if err := sib.Put(ctx, "wal_005/000000010000000000000009.lz4", strings.NewReader("sibling")); err != nil {
			t.Fatal(err)
		}
		objs, err := s.List(ctx, "wal_005/")
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(wal))
		if !slices.Equal(names(objs), want) {
			t.Fatalf("list wal_005/ = %q, want %q", names(objs), want)
		}
		for _, o := range objs {
			i := slices.Index(wal, o.Name)
			if o.Size != int64(i+1) || o.Modified.IsZero() {
				t.Errorf("listed %+v, want size %d", o, i+1)
			}
		}
		objs, err = s.List(ctx, "basebackups_005/base_000000010000000000000002")
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Sorted(slices.Values(other)); !slices.Equal(names(objs), want) {
			t.Errorf("list basebackups = %q, want %q", names(objs), want)
		}
		all, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(all, func(a, b store.Object) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("list is not sorted: %q", names(all))
		}
		for _, o := range all {
			// Listed sizes of large (multipart, segmented) objects are their content sizes.
			var size int64
			if _, err := fmt.Sscanf(o.Name, "rt/obj-%d", &size); err == nil && size != 1000 && o.Size != size {
				t.Errorf("listed %s with size %d", o.Name, o.Size)
			}
			if strings.Contains(o.Name, "sibling") || strings.Contains(o.Name, "000000010000000000000009") || strings.HasPrefix(o.Name, "/") {
				t.Errorf("listing of the prefix shows %q", o.Name)
			}
		}
		if len(all) != len(wal)+len(other)+5 {
			t.Errorf("list \"\" has %d objects, want %d: %q", len(all), len(wal)+len(other)+5, names(all))
		}
		if objs, err := s.List(ctx, "nothing/here/"); err != nil || len(objs) != 0 {
			t.Errorf("list of an empty prefix = %v, %v", objs, err)
		}
		if got := readAll(t, sib, "wal_005/000000010000000000000009.lz4"); got != "sibling" {
			t.Errorf("sibling read %q", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		for _, n := range []string{"del/a", "del/b", "del/keep"} {
			if err := s.Put(ctx, n, strings.NewReader(n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, "del/a", "del/b", "del/never-existed"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		mustNotExist(t, s, "del/a")
		mustNotExist(t, s, "del/b")
		objs, err := s.List(ctx, "del/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(objs), []string{"del/keep"}) {
			t.Errorf("after delete list = %q", names(objs))
		}
		if got := readAll(t, s, "del/keep"); got != "del/keep" {
			t.Errorf("kept object reads %q", got)
		}
		// A large (multipart / segmented) object deletes completely.
		if err := s.Delete(ctx, "rt/obj-67108864"); err != nil {
			t.Fatal(err)
		}
		mustNotExist(t, s, "rt/obj-67108864")
		if err := s.Delete(ctx); err != nil {
			t.Errorf("delete of nothing: %v", err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		mustNotExist(t, s, "no/such/object")
		if _, err := s.Stat(ctx, "wal_005"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("stat of a directory-like prefix: want ErrNotFound, got %v", err)
		}
	})

	t.Run("InterruptedPut", func(t *testing.T) {
		if err := s.Put(ctx, "int/existing", strings.NewReader("old content")); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("source failed")
		cases := []struct {
			name  string
			after int64
			ctx   bool
		}{
			{"ReaderErrorInFirstPart", 1 << 20, false},
			{"ReaderErrorAfterParts", 40 << 20, false},
			{"ContextCancelledMidStream", 40 << 20, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, name := range []string{"int/" + c.name, "int/existing"} {
					pctx, cancel := context.WithCancel(ctx)
					r := &failingReader{r: source(7, 64<<20), left: c.after, err: boom}
					if c.ctx {
						r.cancel = cancel
					}
					err := s.Put(pctx, name, r)
					cancel()
					if err == nil {
						t.Fatalf("put %s succeeded after an interrupted source", name)
					}
					if !c.ctx && !errors.Is(err, boom) {
						t.Errorf("put error %v does not wrap the reader's error", err)
					}
					if c.ctx && !errors.Is(err, context.Canceled) {
						t.Logf("put error after cancel: %v", err)
					}
				}
				mustNotExist(t, s, "int/"+c.name)
				if got := readAll(t, s, "int/existing"); got != "old content" {
					t.Errorf("a failed overwrite left %d bytes instead of the old content", len(got))
				}
			})
		}
		objs, err := s.List(ctx, "int/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(objs), []string{"int/existing"}) {
			t.Errorf("after interrupted puts list = %q", names(objs))
		}
	})

	t.Run("Check", func(t *testing.T) {
		before, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Check(ctx, s); err != nil {
			t.Fatalf("check with good credentials: %v", err)
		}
		objs, err := s.List(ctx, store.ProbeFolder)
		if err != nil || len(objs) != 0 {
			t.Errorf("check left %q, %v", names(objs), err)
		}
		// Nothing else was touched: the probe never lands at the prefix's root.
		if after, err := s.List(ctx, ""); err != nil || !slices.Equal(names(after), names(before)) {
			t.Errorf("check changed the prefix: %q before, %q after (%v)", names(before), names(after), err)
		}
		bad, hint := srv.Creds, ""
		switch srv.Name {
		case "s3":
			bad.AWSSecretAccessKey += "x"
			hint = "aws_secret_access_key"
		case "swift":
			bad.OSPassword = "wrong"
			hint = "os_password"
		case "azure":
			bad.WABSAccessKey = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk="
			hint = "wabs_access_key"
		default:
			t.Skipf("%s has no credentials to get wrong", srv.Name)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err = nil
		bs, err := store.Open(ctx, srv.URI(bucket, "cluster/one"), bad)
		if err == nil {
			err = store.Check(ctx, bs)
		}
		if err == nil {
			t.Fatal("wrong credentials passed the check")
		}
		if !errors.Is(err, store.ErrAuth) || !strings.Contains(err.Error(), hint) {
			t.Errorf("wrong credentials: want ErrAuth naming %s, got %v", hint, err)
		}
		t.Logf("wrong credentials: %v", err)
	})

	if srv.Name == "swift" {
		t.Run("SwiftSegmentsCleanedUp", func(t *testing.T) {
			segs, err := store.Open(ctx, srv.URI(bucket+"_segments", ""), srv.Creds)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := segs.List(ctx, "cluster/one/")
			if err != nil {
				t.Fatal(err)
			}
			// Left: the segments of the 16 MiB object (one part) and nothing of the deleted or
			// failed uploads.
			for _, o := range objs {
				if !strings.HasPrefix(o.Name, fmt.Sprintf("cluster/one/rt/obj-%d/", store.DefaultTuning.PartSize)) {
					t.Errorf("segment %s left behind", o.Name)
				}
			}
		})
	}
	t.Run("LeadingSlash", func(t *testing.T) { testLeadingSlash(t, srv, bucket) })
}

// TestFileTempFilesInvisible checks that a file store hides and cleans its temporary files.
func TestFileTempFilesInvisible(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, "file://"+dir, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Put(ctx, "a/b", &failingReader{r: bytes.NewReader(make([]byte, 100)), left: 50, err: io.ErrClosedPipe})
	if err == nil {
		t.Fatal("put succeeded")
	}
	if err := s.Put(ctx, "a/c", strings.NewReader("c")); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(objs), []string{"a/c"}) {
		t.Errorf("list = %q", names(objs))
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "dir/"} {
		if err := s.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("put %q accepted", bad)
		}
	}
}

// testLeadingSlash checks the view that reads WAL-E's Swift and GCS objects, whose names begin
// with "/" ("/basebackups_005/...", "/PREFIX/wal_005/..."): the view reaches exactly those, the
// ordinary store does not see them, and the names really carry the slash in the bucket.
func testLeadingSlash(t *testing.T, srv *storetest.Server, bucket string) {
	ctx := context.Background()
	for _, prefix := range []string{"", "walex/1"} {
		s, err := store.Open(ctx, srv.URI(bucket, prefix), srv.Creds)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := store.LeadingSlash(s)
		if srv.Name == "file" {
			if ok {
				t.Fatal("the file store has no leading-slash view (a leading slash names the same file)")
			}
			return
		}
		if !ok {
			t.Fatalf("%s has no leading-slash view", srv.Name)
		}
		name := "wal_005/000000010000000000000002.lzo"
		if err := v.Put(ctx, name, strings.NewReader("wal-e")); err != nil {
			t.Fatalf("put through the view: %v", err)
		}
		root, err := store.Open(ctx, srv.URI(bucket, ""), srv.Creds)
		if err != nil {
			t.Fatal(err)
		}
		raw := "/" + name
		if prefix != "" {
			raw = "/" + prefix + "/" + name
		}
		all, err := root.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(all, func(o store.Object) bool { return o.Name == raw }) {
			// versitygw's posix backend and fake-gcs-server keep objects as files and drop the
			// leading slash; real S3 and GCS keep it. There the ordinary store must reach it.
			t.Logf("%s (a file-backed emulator) stored %q without its leading slash (bucket holds %+v); checking the ordinary store reaches it", srv.Name, raw, all)
			if _, err := s.Stat(ctx, name); err != nil {
				t.Fatalf("the ordinary store does not reach it either: %v", err)
			}
			s.Delete(ctx, name)
			continue
		}
		if objs, err := v.List(ctx, "wal_005/"); err != nil || len(objs) != 1 || objs[0].Name != name {
			t.Fatalf("view lists %+v, %v; want %s", objs, err, name)
		}
		if objs, err := s.List(ctx, "wal_005/"); err != nil || len(objs) != 0 {
			t.Fatalf("the ordinary store sees %+v, %v", objs, err)
		}
		r, err := v.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "wal-e" {
			t.Fatalf("read %q", b)
		}
		if _, err := v.Stat(ctx, name); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(v.String(), "beginning with /") {
			t.Errorf("view String() = %q does not say so", v.String())
		}
		if err := v.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Stat(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	}
}
