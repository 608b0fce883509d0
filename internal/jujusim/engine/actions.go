package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

// EnqueueAction validates params against actions.yaml (with defaults) and queues the
// action; returns its id.
func (e *Engine) EnqueueAction(ref ModelRef, unitName, name string, params map[string]any) (string, error) {
	var charmDir string
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		charmDir = m.Apps[u.App].CharmDir
		return nil
	})
	if err != nil {
		return "", err
	}
	spec, err := actionSpec(charmDir, name)
	if err != nil {
		return "", err
	}
	if params == nil {
		params = map[string]any{}
	}
	if err := spec.ValidateParams(params); err != nil {
		return "", err
	}
	full, err := spec.InsertDefaults(params)
	if err != nil {
		return "", err
	}
	var id string
	err = e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		m.NextAction++
		id = strconv.Itoa(m.NextAction)
		m.Actions[id] = &state.Action{ID: id, Unit: unitName, Name: name, Params: jsonable(full), Status: "pending", Enqueued: now()}
		// Juju runs pending actions before pending relation hooks, once the unit started.
		ev := state.Event{Kind: "action", Action: id}
		pos := 0
		if u.Failed != nil {
			pos = 1
		}
		for i, q := range u.Queue {
			if q.Kind == "start" {
				pos = i + 1
			}
		}
		pos = min(pos, len(u.Queue))
		u.Queue = append(u.Queue[:pos], append([]state.Event{ev}, u.Queue[pos:]...)...)
		return nil
	})
	return id, err
}

// jsonable converts YAML-decoded maps (map[interface{}]interface{}) to map[string]any.
func jsonable(v map[string]any) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		out[k] = fixValue(x)
	}
	return out
}

func fixValue(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, y := range x {
			m[fmt.Sprint(k)] = fixValue(y)
		}
		return m
	case map[string]any:
		return jsonable(x)
	case []any:
		for i := range x {
			x[i] = fixValue(x[i])
		}
		return x
	}
	return v
}

// ParseActionParams parses k=v arguments: dotted keys nest, values are YAML.
func ParseActionParams(args []string) (map[string]any, error) {
	res := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q must be of the form key...=value", a)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
			val = v
		}
		if _, isMap := val.(map[any]any); isMap {
			val = v
		}
		keys := strings.Split(k, ".")
		cur := res
		for _, key := range keys[:len(keys)-1] {
			next, ok := cur[key].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[key] = next
			}
			cur = next
		}
		cur[keys[len(keys)-1]] = fixValue(val)
	}
	return res, nil
}

// Action returns an action record.
func (e *Engine) Action(ref ModelRef, id string) (state.Action, error) {
	var a state.Action
	err := e.Store.View(func(st *state.State) error {
		// Action ids are per model (juju show-task looks in the current model, or -m).
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		if x := m.Actions[id]; x != nil {
			a = *x
			return nil
		}
		return fmt.Errorf("action %q not found", id)
	})
	return a, err
}
