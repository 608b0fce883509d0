// Package atomicfile replaces files so that a reader (PostgreSQL, archive_command, the
// next hook) never sees half of one and a crash never leaves one empty: the content goes
// to a temporary file in the same directory, which is synced, given its mode and owner,
// renamed over the old file, and the directory synced so that the rename is durable.
// A link planted where the file goes is replaced by the rename, never followed.
package atomicfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pgcharm/postgresql/internal/safefs"
)

// TempPrefix begins the names of the temporary files: listings of a directory being
// written (the file store's) skip them.
const TempPrefix = ".tmp-"

// Owner is who the file belongs to; nil leaves it to the writing process.
type Owner struct{ UID, GID int }

// Write replaces path with what r yields (streamed, never held whole), with mode perm and
// owner. ctx is checked before the rename, so a cancelled write leaves the old file.
func Write(ctx context.Context, path string, r io.Reader, perm os.FileMode, owner *Owner) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if owner != nil {
		if err := f.Chown(owner.UID, owner.GID); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return SyncDir(dir)
}

// WriteIfChanged replaces path with data unless it already is a regular file (not a
// link) holding exactly data; then only its mode and owner are corrected. It reports
// whether the content changed.
func WriteIfChanged(path string, data []byte, perm os.FileMode, owner *Owner) (bool, error) {
	if f, err := safefs.OpenFile(path, safefs.AnyOwner); err == nil {
		old, rerr := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
		if rerr == nil && bytes.Equal(old, data) {
			err := f.Chmod(perm)
			if err == nil && owner != nil {
				err = f.Chown(owner.UID, owner.GID)
			}
			f.Close()
			if err != nil {
				return false, fmt.Errorf("write %s: %w", path, err)
			}
			return false, nil
		}
		f.Close()
	}
	if err := Write(context.Background(), path, bytes.NewReader(data), perm, owner); err != nil {
		return false, err
	}
	return true, nil
}

// SyncDir makes the renames and creations in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
