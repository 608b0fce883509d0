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
		start := 0
		if u.Failed != nil {
			start = 1 // the failed hook is retried as is; a later copy still counts
		}
		for _, q := range u.Queue[min(start, len(u.Queue)):] {
			if q == ev {
				return
			}
		}
	}
	u.Queue = append(u.Queue, ev)
}

// Drop removes pending (not failed) events matching pred.
func (u *Unit) Drop(pred func(Event) bool) {
	var q []Event
	for i, ev := range u.Queue {
		if i == 0 && u.Failed != nil {
			q = append(q, ev)
			continue
		}
		if !pred(ev) {
			q = append(q, ev)
		}
	}
	u.Queue = q
}

// FormatRelID renders "endpoint:id".
func FormatRelID(endpoint string, id int) string {
	return endpoint + ":" + strconv.Itoa(id)
}
