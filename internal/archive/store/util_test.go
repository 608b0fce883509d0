package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestPartUploader(t *testing.T) {
	tun := Tuning{PartSize: 1 << 10, Concurrency: 3}
	for _, size := range []int{0, 1, 1023, 1024, 1025, 5000, 10 << 10} {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(data)
		var (
			mu     sync.Mutex
			parts  = map[int][]byte{}
			single []byte
			began  bool
		)
		u := partUploader{
			tuning: tun, growEvery: 3, maxPart: 4 << 10,
			single: func(_ context.Context, b []byte) error { single = bytes.Clone(b); return nil },
			begin:  func(context.Context) error { began = true; return nil },
			upload: func(_ context.Context, n int, b []byte) error {
				mu.Lock()
				defer mu.Unlock()
				parts[n] = bytes.Clone(b)
				return nil
			},
		}
		n, err := u.run(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if size < 1024 {
			if n != 0 || began || !bytes.Equal(single, data) {
				t.Errorf("size %d: want one single request, got %d parts, began %v", size, n, began)
			}
			continue
		}
		var got []byte
		for i := 1; i <= n; i++ {
			p, ok := parts[i]
			if !ok || len(p) == 0 {
				t.Fatalf("size %d: part %d missing or empty", size, i)
			}
			if want := u.partSize(tun, i); len(p) > int(want) || (i < n && len(p) != int(want)) {
				t.Errorf("size %d: part %d has %d bytes, want %d", size, i, len(p), want)
			}
			got = append(got, p...)
		}
		if len(parts) != n || !began || single != nil || !bytes.Equal(got, data) {
			t.Errorf("size %d: %d parts (%d uploaded) do not reassemble the input", size, n, len(parts))
		}
	}
	if got := (partUploader{growEvery: 3, maxPart: 4 << 10}).partSize(tun, 100); got != 4<<10 {
		t.Errorf("part size is not capped: %d", got)
	}
}

func TestPartUploaderErrors(t *testing.T) {
	tun := Tuning{PartSize: 1 << 10, Concurrency: 2}
	boom := errors.New("boom")
	u := partUploader{
		tuning: tun,
		single: func(context.Context, []byte) error { t.Error("single called"); return nil },
		begin:  func(context.Context) error { return nil },
		upload: func(_ context.Context, n int, b []byte) error {
			if n == 3 {
				return boom
			}
			return nil
		},
	}
	if _, err := u.run(context.Background(), io.LimitReader(rand.NewChaCha8([32]byte{}), 100<<10)); !errors.Is(err, boom) {
		t.Errorf("upload error not returned: %v", err)
	}
	u.upload = func(context.Context, int, []byte) error { return nil }
	r := io.MultiReader(bytes.NewReader(make([]byte, 5000)), errReader{boom})
	if _, err := u.run(context.Background(), r); !errors.Is(err, boom) {
		t.Errorf("reader error not returned: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestPartUploaderBytes: a body already in memory that fits a part goes out in one request
// from its own memory, never copied into a part buffer; a larger one still goes in parts.
func TestPartUploaderBytes(t *testing.T) {
	tun := Tuning{PartSize: 1 << 10, Concurrency: 2}
	for _, size := range []int{1, 1024, 1025, 5000} {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(data)
		var (
			mu     sync.Mutex
			single []byte
			got    = map[int][]byte{}
		)
		u := partUploader{
			tuning: tun,
			single: func(_ context.Context, b []byte) error { single = b; return nil },
			begin:  func(context.Context) error { return nil },
			upload: func(_ context.Context, n int, b []byte) error {
				mu.Lock()
				defer mu.Unlock()
				got[n] = bytes.Clone(b)
				return nil
			},
		}
		n, err := u.run(context.Background(), NewBytes(data))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if size <= 1024 {
			if n != 0 || len(single) != size || &single[0] != &data[0] {
				t.Errorf("size %d: want one request sent from the caller's memory, got %d parts", size, n)
			}
			continue
		}
		var joined []byte
		for i := 1; i <= n; i++ {
			joined = append(joined, got[i]...)
		}
		if single != nil || !bytes.Equal(joined, data) {
			t.Errorf("size %d: %d parts do not reassemble the input", size, n)
		}
	}
}
