package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pgcharm/postgresql/internal/jujusim/flock"
	"golang.org/x/sys/unix"
)

// Store is the state file under a jujusim home directory. Every access takes an flock on
// state.lock, so concurrent CLI commands and hook tools never see a half-written world.
type Store struct {
	Dir string
}

// Open returns the store rooted at dir (created if missing).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create jujusim home %s: %w", dir, err)
	}
	return &Store{Dir: dir}, nil
}

func (s *Store) path() string { return filepath.Join(s.Dir, "state.json") }

func (s *Store) lock(how int) (*os.File, error) {
	f, err := flock.Open(filepath.Join(s.Dir, "state.lock"), 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state: %w", err)
	}
	return f, nil
}

func (s *Store) read() (*State, error) {
	data, err := os.ReadFile(s.path())
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st := &State{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", s.path(), err)
	}
	st.init()
	return st, nil
}

// View runs fn on a snapshot of the state under a shared lock.
func (s *Store) View(fn func(*State) error) error {
	f, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := s.read()
	if err != nil {
		return err
	}
	return fn(st)
}

// Update runs fn under an exclusive lock and saves the state if fn returns nil.
func (s *Store) Update(fn func(*State) error) error {
	f, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := s.path() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return fmt.Errorf("replace state: %w", err)
	}
	return nil
}

// Lock takes the exclusive "runner" lock that serialises hook execution across jujusim
// commands sharing one home; the caller releases it with the returned function.
func (s *Store) Lock(name string) (func(), error) {
	return flock.Exclusive(filepath.Join(s.Dir, name+".lock"), 0o600)
}
