// Package flock holds the advisory whole-file locks jujusim's processes meet at: the state
// and runner locks of a home, the per-unit operation locks, the machine and network locks,
// the image build lock. A flock goes with its holder: a jujusim killed mid-command releases
// its locks, so it never wedges the next one.
package flock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open opens the lock file at path, creating it with perm.
func Open(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, perm)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	return f, nil
}

// Lock takes how (unix.LOCK_SH or LOCK_EX, with LOCK_NB not to wait) on f, waiting again
// when a signal interrupts the wait; with LOCK_NB a lock held elsewhere is
// unix.EWOULDBLOCK.
func Lock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Exclusive waits for an exclusive lock on the file at path (created with perm); the
// returned func releases it.
func Exclusive(path string, perm os.FileMode) (unlock func(), err error) {
	f, err := Open(path, perm)
	if err != nil {
		return nil, err
	}
	if err := Lock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
