package engine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// detachStorage ends a storage attachment once its -storage-detaching hook has committed:
// worker/uniter/storage/attachments.go removes the attachment after the hook, so later
// hooks no longer see it in storage-list or storage-get, and the storage provisioner
// unmounts the volume from the machine. The volume is kept (detached, attachable again),
// or destroyed with the unit's --destroy-storage.
func (e *Engine) detachStorage(st *state.State, m *state.Model, u *state.Unit, id string) []func() {
	s := m.Storage[id]
	if s == nil || s.Unit != u.Name {
		return nil
	}
	loc := s.Location
	destroyDir := ""
	if u.DestroySt && u.Life != "alive" {
		if v := st.Volumes[s.Volume]; v != nil {
			destroyDir = v.Dir
			delete(st.Volumes, s.Volume)
		}
		delete(m.Storage, id)
	} else {
		s.Unit, s.Location, s.Status = "", "", "detached"
	}
	if loc != "" && !contains(u.Detached, loc) {
		u.Detached = append(u.Detached, loc)
	}
	mc := m.Machines[u.Machine]
	if mc == nil || loc == "" {
		return nil
	}
	mcCopy := *mc
	modelName, modelUUID, unit := m.Name, m.UUID, u.Name
	return []func(){func() {
		e.unmount(&mcCopy, modelName, modelUUID, unit, id, loc)
		if destroyDir != "" {
			_ = os.RemoveAll(destroyDir)
		}
	}}
}

// unmount takes a volume off a machine. A volume still in use (a process left running on
// it, an open file, a working directory) cannot be unmounted cleanly: it is unmounted
// lazily, as an operator would have to, and the debug log says it is the charm's fault,
// since a charm must let go of its storage in -storage-detaching.
func (e *Engine) unmount(mc *state.Machine, modelName, modelUUID, unit, id, loc string) {
	m := &state.Model{Name: modelName, UUID: modelUUID}
	mach, err := e.loadMachine(mc)
	if err != nil {
		e.logf(m, unit, "ERROR", "juju.worker.storageprovisioner", "detach %s: load machine %s: %v", id, mc.ID, err)
		return
	}
	err = mach.Detach(loc)
	if err == nil {
		e.logf(m, unit, "INFO", "juju.worker.storageprovisioner", "storage %s detached: unmounted from %s", id, loc)
		return
	}
	if mach.Command(context.Background(), "mountpoint", "-q", loc).Run() != nil {
		return // nothing mounted there any more
	}
	users, _ := mach.Command(context.Background(), "sh", "-c",
		`for p in /proc/[0-9]*; do l=$(readlink "$p/cwd" "$p/root" "$p"/fd/* 2>/dev/null | grep -F "$1" | head -n1); `+
			`[ -n "$l" ] && echo "$(basename "$p") $(tr '\0' ' ' < "$p/cmdline" | cut -c1-80)"; done`, "sh", loc).Output()
	held := strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(users)), "\n", "; ")), " ")
	if out, lerr := mach.Command(context.Background(), "umount", "-l", loc).CombinedOutput(); lerr != nil {
		e.logf(m, unit, "ERROR", "juju.worker.storageprovisioner", "detach %s: %v; lazy unmount of %s failed too: %v: %s",
			id, err, loc, lerr, strings.TrimSpace(string(out)))
		return
	}
	e.logf(m, unit, "ERROR", "juju.worker.storageprovisioner",
		"charm fault: storage %s was still in use at %s after %s-storage-detaching (%s); unmounted lazily, so its writes go to a volume the unit no longer has",
		id, loc, strings.SplitN(id, "/", 2)[0], orNone(held))
}

func orNone(s string) string {
	if s == "" {
		return "busy"
	}
	return "used by pid " + s
}

// checkDetached reports, as the charm's fault, anything written where a volume was
// mounted after it detached: hooks that ran without their storage and wrote to the root
// disk instead (a database created or started there, say).
func (e *Engine) checkDetached(mach Machine, m *state.Model, unit string, locs []string) {
	for _, loc := range locs {
		out, _ := mach.Command(context.Background(), "sh", "-c",
			`mountpoint -q "$1" && exit 0; [ -d "$1" ] && find "$1" -mindepth 1 -maxdepth 3 | head -n 5`, "sh", loc).Output()
		if found := strings.Fields(string(out)); len(found) > 0 {
			e.logf(m, unit, "ERROR", "juju.worker.storageprovisioner",
				"charm fault: hooks wrote to %s on the root disk after its storage detached: %s", loc, strings.Join(found, " "))
		}
	}
}

// DetachStorage detaches storage from its live unit, as `juju detach-storage` does: the unit
// runs <name>-storage-detaching alone, after which the attachment is gone and the volume is
// unmounted (detachStorage); the unit lives on without it and the storage stays, detached.
func (e *Engine) DetachStorage(ref ModelRef, id string) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		s := m.Storage[id]
		if s == nil {
			return fmt.Errorf("storage %q not found", id)
		}
		u := m.Units[s.Unit]
		if s.Unit == "" || u == nil {
			return fmt.Errorf("storage %q is not attached", id)
		}
		if u.Life != "alive" {
			return nil // its teardown detaches it already
		}
		if sm, ok := m.Apps[u.App].StorageMeta[s.Name]; ok && attachedCount(m, u.Name, s.Name) <= sm.CountMin {
			return fmt.Errorf("cannot detach storage %s: %s needs at least %d %s storage", id, u.Name, sm.CountMin, s.Name)
		}
		enqueueOnce(u, state.Event{Kind: "storage-detaching", Storage: id})
		return nil
	})
}

// AttachStorage attaches detached storage to a live unit, as `juju attach-storage UNIT ID`
// does: the volume is mounted at the storage's location on the unit's machine, then the
// unit runs <name>-storage-attached.
func (e *Engine) AttachStorage(ctx context.Context, ref ModelRef, unitName, id string) error {
	var mc state.Machine
	var src, dst string
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil || u.Removed {
			return fmt.Errorf("unit %q not found", unitName)
		}
		if u.Life != "alive" {
			return fmt.Errorf("cannot attach storage %s to %s: the unit is dying", id, unitName)
		}
		s := m.Storage[id]
		if s == nil {
			return fmt.Errorf("storage %q not found", id)
		}
		if s.Unit != "" {
			return fmt.Errorf("storage %q is attached to %s", id, s.Unit)
		}
		app := m.Apps[u.App]
		sm, ok := app.StorageMeta[s.Name]
		if !ok {
			return fmt.Errorf("charm %q has no storage called %q", app.CharmName, s.Name)
		}
		if n := attachedCount(m, u.Name, s.Name); sm.CountMax >= 0 && n >= sm.CountMax {
			return fmt.Errorf("cannot attach storage %s to %s: it already has %d %s storage (the charm allows %d)", id, unitName, n, s.Name, sm.CountMax)
		}
		v := st.Volumes[s.Volume]
		if v == nil || m.Machines[u.Machine] == nil {
			return fmt.Errorf("storage %q has no volume", id)
		}
		s.Unit, s.Location, s.Kind, s.Status = u.Name, storageLocation(sm, id), sm.Kind, "pending"
		mc, src, dst = *m.Machines[u.Machine], v.Dir, s.Location
		return nil
	})
	if err != nil {
		return err
	}
	mach, err := e.loadMachine(&mc)
	if err == nil {
		err = mach.Attach(src, dst)
	}
	return e.Store.Update(func(st *state.State) error {
		m, merr := model(st, ref)
		if merr != nil {
			return merr
		}
		s, u := m.Storage[id], m.Units[unitName]
		if s == nil || u == nil {
			return err
		}
		if err != nil {
			s.Unit, s.Location, s.Status = "", "", "detached"
			return fmt.Errorf("attach storage %s to %s: %w", id, unitName, err)
		}
		s.Status = "attached"
		var keep []string
		for _, l := range u.Detached {
			if l != dst {
				keep = append(keep, l)
			}
		}
		u.Detached = keep
		u.Enqueue(state.Event{Kind: "storage-attached", Storage: id})
		return nil
	})
}

func attachedCount(m *state.Model, unit, name string) int {
	n := 0
	for _, s := range m.Storage {
		if s.Unit == unit && s.Name == name {
			n++
		}
	}
	return n
}
