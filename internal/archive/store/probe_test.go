package store_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

// recording records every name a Store is asked about.
type recording struct {
	store.Store
	names []string
}

func (r *recording) Put(ctx context.Context, name string, rd io.Reader) error {
	r.names = append(r.names, "put "+name)
	return r.Store.Put(ctx, name, rd)
}

func (r *recording) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	r.names = append(r.names, "get "+name)
	return r.Store.Get(ctx, name)
}

func (r *recording) Stat(ctx context.Context, name string) (store.Object, error) {
	r.names = append(r.names, "stat "+name)
	return r.Store.Stat(ctx, name)
}

func (r *recording) List(ctx context.Context, prefix string) ([]store.Object, error) {
	r.names = append(r.names, "list "+prefix)
	return r.Store.List(ctx, prefix)
}

func (r *recording) Delete(ctx context.Context, names ...string) error {
	for _, n := range names {
		r.names = append(r.names, "delete "+n)
	}
	return r.Store.Delete(ctx, names...)
}

// TestCheckStaysInItsFolder: Check touches nothing but its own folder (it wrote and
// deleted a probe_* object at the prefix's root, where another tool's or a user's
// objects live), and leaves nothing behind.
func TestCheckStaysInItsFolder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := store.Open(ctx, "file://"+dir, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"probe_mine.txt", "basebackups_005/x", "notes.txt"} {
		if err := fs.Put(ctx, n, strings.NewReader("someone's")); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recording{Store: fs}
	if err := store.Check(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.names) < 4 {
		t.Fatalf("Check asked for %q: too little to check anything", rec.names)
	}
	for _, n := range rec.names {
		_, name, _ := strings.Cut(n, " ")
		if !strings.HasPrefix(name, store.ProbeFolder) {
			t.Errorf("Check: %s, outside %s", n, store.ProbeFolder)
		}
	}
	objs, err := fs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, o := range objs {
		left = append(left, o.Name)
	}
	if strings.Join(left, " ") != "basebackups_005/x notes.txt probe_mine.txt" {
		t.Errorf("after Check the store holds %q", left)
	}
}
