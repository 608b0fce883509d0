package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/atomicfile"
)

// tmpMark begins the names of files being written (atomicfile's temporary files); List
// never shows them.
const tmpMark = atomicfile.TempPrefix

// fileStore keeps objects as files under a directory. Put writes a temporary file in the target
// directory, syncs it, renames it into place and syncs the directory, so a crash leaves either
// the whole object or none.
type fileStore struct {
	uri  URI
	root string
}

func openFile(u URI) (*fileStore, error) {
	if err := os.MkdirAll(u.Path, 0o750); err != nil {
		return nil, err
	}
	return &fileStore{uri: u, root: u.Path}, nil
}

func (s *fileStore) String() string { return s.uri.String() }

func (s *fileStore) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

func (s *fileStore) Put(ctx context.Context, name string, r io.Reader) (err error) {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("put %s/%s: %w", s.uri, name, err)
		}
	}()
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return atomicfile.Write(ctx, p, ctxReader{ctx, r}, 0o640, nil)
}

// ctxReader stops a copy once the context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *fileStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", s.uri, name, fileErr(err))
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("get %s/%s: %w: is a directory", s.uri, name, ErrNotFound)
	}
	return f, nil
}

func fileErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

func (s *fileStore) Stat(ctx context.Context, name string) (Object, error) {
	p, err := s.path(name)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(p)
	if err == nil && st.IsDir() {
		err = fmt.Errorf("%w: is a directory", ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("stat %s/%s: %w", s.uri, name, fileErr(err))
	}
	return Object{Name: name, Size: st.Size(), Modified: st.ModTime()}, nil
}

func (s *fileStore) List(ctx context.Context, prefix string) ([]Object, error) {
	// Walk only the deepest directory the prefix names.
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var objs []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpMark) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		objs = append(objs, Object{Name: name, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", s.uri, prefix, err)
	}
	return sortObjects(objs), nil
}

func (s *fileStore) Delete(ctx context.Context, names ...string) error {
	for _, n := range names {
		p, err := s.path(n)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s/%s: %w", s.uri, n, err)
		}
	}
	return nil
}
