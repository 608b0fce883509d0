package state

import "strconv"

// HookName is the hook (or action) name that ev runs as for a unit of app in model.
func (s *State) HookName(model, app string, ev Event) string {
	switch {
	case ev.Kind == "action":
		if m := s.Models[model]; m != nil {
			if a := m.Actions[ev.Action]; a != nil {
				return a.Name
			}
		}
		return "action"
	case ev.IsRelation():
		if r := s.Relations[ev.Rel]; r != nil {
			if i := r.SideOf(model, app); i >= 0 {
				return r.Sides[i].Endpoint + "-" + ev.Kind
			}
		}
		return ev.Kind
	case ev.IsStorage():
		name, _ := SplitUnit(ev.Storage)
		return name + "-" + ev.Kind
	}
	return ev.Kind
}

// coalescable events replace nothing but are not queued twice while pending.
func coalescable(kind string) bool {
	switch kind {
	case "config-changed", "leader-settings-changed", "relation-changed", "update-status", "secret-changed":
		return true
	}
	return false
}

// Enqueue appends ev to the unit's queue, dropping it when an identical coalescable
// event is already waiting (Juju runs one relation-changed for several commits).
func (u *Unit) Enqueue(ev Event) {
	if coalescable(ev.Kind) {
		for _, q := range u.Queue {
			// The failed hook is retried as is, and a running one has read what it
			// read: a later change still needs its own hook.
			if q == ev && !u.isHeld(q) {
				return
			}
		}
	}
	u.Queue = append(u.Queue, ev)
}

// isHeld reports whether ev is the unit's failed or running event, which stays queued.
func (u *Unit) isHeld(ev Event) bool {
	return (u.Failed != nil && *u.Failed == ev) || (u.Running != nil && *u.Running == ev)
}

// Drop removes pending (neither failed nor running) events matching pred.
func (u *Unit) Drop(pred func(Event) bool) {
	var q []Event
	keptFailed, keptRunning := false, false // the first copy is the held one
	for _, ev := range u.Queue {
		switch {
		case !keptFailed && u.Failed != nil && *u.Failed == ev:
			keptFailed = true
		case !keptRunning && u.Running != nil && *u.Running == ev:
			keptRunning = true
		case pred(ev):
			continue
		}
		q = append(q, ev)
	}
	u.Queue = q
}

// Finish removes the (first) queued copy of a finished event.
func (u *Unit) Finish(ev Event) {
	for i, q := range u.Queue {
		if q == ev {
			u.Queue = append(u.Queue[:i:i], u.Queue[i+1:]...)
			return
		}
	}
}

// FormatRelID renders "endpoint:id".
func FormatRelID(endpoint string, id int) string {
	return endpoint + ":" + strconv.Itoa(id)
}
