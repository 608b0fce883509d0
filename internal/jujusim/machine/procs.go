package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// StopTimeout is how long Destroy waits after SIGTERM before it sends SIGKILL.
var StopTimeout = 5 * time.Second

// nsID identifies a namespace the way the kernel does: the nsfs device and inode.
type nsID struct{ dev, ino uint64 }

func nsOf(path string) (nsID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{uint64(st.Dev), st.Ino}, nil
}

// isNSFile tells whether path is a bind-mounted namespace (nsfs) rather than the plain file under it.
func isNSFile(path string) bool {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(path, &fs); err != nil {
		return false
	}
	const nsfsMagic = 0x6e736673
	return fs.Type == nsfsMagic
}

// Processes lists every process whose network or mount namespace is the machine's. Zombies, which
// no longer have namespaces, are not listed.
func (m *Machine) Processes() ([]int, error) {
	ids, err := m.nsIDs()
	if err != nil {
		return nil, err
	}
	return processesIn(ids)
}

// nsIDs identifies the machine's network and mount namespaces (none if their files are gone).
func (m *Machine) nsIDs() (map[nsID]bool, error) {
	ids := map[nsID]bool{}
	for _, kind := range []string{"net", "mnt"} {
		f := m.nsFile(kind)
		if !isNSFile(f) {
			continue
		}
		id, err := nsOf(f)
		if err != nil {
			return nil, fmt.Errorf("machine %s: %w", m.Hostname, err)
		}
		ids[id] = true
	}
	return ids, nil
}

// processesIn lists the processes in any of the namespaces ids, looking at the given kinds of
// namespace (default net and mnt).
func processesIn(ids map[nsID]bool, kinds ...string) ([]int, error) {
	if len(kinds) == 0 {
		kinds = []string{"net", "mnt"}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		for _, kind := range kinds {
			id, err := nsOf(filepath.Join("/proc", e.Name(), "ns", kind))
			if err == nil && ids[id] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// stopProcesses sends SIGTERM to every process in the namespaces ids, waits up to grace for them
// to go, then SIGKILLs whatever is left (including anything forked meanwhile) until none remain.
func stopProcesses(ctx context.Context, ids map[nsID]bool, grace time.Duration) error {
	pids, err := processesIn(ids)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	sig := syscall.Signal(0)
	for {
		pids, err := processesIn(ids)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			sig = syscall.SIGKILL
		}
		if sig != 0 {
			for _, pid := range pids {
				if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
					return fmt.Errorf("kill %d: %w", pid, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop processes %v: %w", pids, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
