package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/flock"
	"golang.org/x/sys/unix"
)

// A unit's operations (hooks, actions, juju-exec commands) never overlap: Juju's uniter
// runs one operation at a time under the machine lock (core/machinelock), and juju-exec's
// commands are an operation of their own (worker/uniter/runcommands), taken between
// hooks. jujusim's scheduler and a juju-exec inside the machine are different processes,
// so they meet at two flocks per unit under run/locks (flocks hold across the machine's
// mount namespace, which bind-mounts the home):
//
//   - busy (exclusive): held by whoever runs an operation of the unit: the scheduler from a
//     hook's start to its commit, juju-exec from its context's creation to its commit;
//   - wait (shared): held by every juju-exec from before it asks for busy until it is done.
//     The scheduler starts no hook on a unit whose wait lock it cannot take, so that a
//     waiting command runs before the unit's queued hooks, as the uniter's resolver
//     orders commands before hooks (worker/uniter/resolver.go).
//
// A process that dies releases its flocks, so a killed juju-exec never wedges a unit.

func (e *Engine) unitLockPath(model, unit, kind string) string {
	return filepath.Join(e.Home, "run", "locks", model+"-"+strings.ReplaceAll(unit, "/", "-")+"."+kind)
}

func openLock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create lock dir: %w", err)
	}
	return flock.Open(path, 0o600)
}

// tryUnitBusy takes the unit's busy lock for a hook unless a juju-exec holds or waits for
// it; it returns nil, nil when the unit is taken.
func (e *Engine) tryUnitBusy(model, unit string) (release func(), err error) {
	w, err := openLock(e.unitLockPath(model, unit, "wait"))
	if err != nil {
		return nil, err
	}
	werr := flock.Lock(w, unix.LOCK_EX|unix.LOCK_NB)
	w.Close() // only probed: a waiting juju-exec holds it shared
	if errors.Is(werr, unix.EWOULDBLOCK) {
		return nil, nil
	}
	if werr != nil {
		return nil, fmt.Errorf("probe unit lock: %w", werr)
	}
	b, err := openLock(e.unitLockPath(model, unit, "busy"))
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(b, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock unit: %w", err)
	}
	return func() { b.Close() }, nil
}

// lockUnitForCommands waits until the unit runs no operation and takes it for a juju-exec
// command; queued hooks wait meanwhile.
func (e *Engine) lockUnitForCommands(model, unit string) (release func(), err error) {
	w, err := openLock(e.unitLockPath(model, unit, "wait"))
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(w, unix.LOCK_SH); err != nil {
		w.Close()
		return nil, fmt.Errorf("lock unit: %w", err)
	}
	b, err := openLock(e.unitLockPath(model, unit, "busy"))
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := flock.Lock(b, unix.LOCK_EX); err != nil {
		b.Close()
		w.Close()
		return nil, fmt.Errorf("lock unit: %w", err)
	}
	return func() { b.Close(); w.Close() }, nil
}
