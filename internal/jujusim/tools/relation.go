package tools

import (
	"fmt"
	"sort"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	register("relation-ids", relationIDs, false, "smart")
	register("relation-list", relationList, false, "smart")
	register("relation-get", relationGet, false, "smart")
	register("relation-set", relationSet, true, "smart")
	register("relation-model-get", relationModelGet, false, "smart")
}

func relationIDs(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	name := ""
	if r, i := c.currentRel(); r != nil {
		name = r.Sides[i].Endpoint
	}
	args := c.fs.Args
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	if name == "" {
		return cmdline.Usagef("no endpoint name specified")
	}
	ids := []string{}
	for _, r := range c.st.RelationsOfApp(c.m.UUID, c.u.App) {
		i := r.SideOf(c.m.UUID, c.u.App)
		s := r.Sides[i]
		if s.Endpoint != name {
			continue
		}
		ru := s.Units[c.u.Name]
		if ru == nil || !ru.Created || ru.Broken {
			continue
		}
		if r.Dying {
			// 3.x lists only live relations, in every hook: a relation being removed is
			// gone from relation-ids at once, and during its broken hook.
			continue
		}
		ids = append(ids, state.FormatRelID(s.Endpoint, s.ID))
	}
	sort.Strings(ids)
	return c.write(ids)
}

func relationList(c *call) error {
	rf := c.relationFlag()
	var app bool
	c.fs.Bool(&app, "app")
	if err := c.parse(); err != nil {
		return err
	}
	if err := rf.need(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	r, side := rf.rel, rf.side
	other := r.Other(side)
	if app {
		return c.write(r.Sides[other].Alias)
	}
	members := []string{}
	breaking := c.hc.Event.Kind == "relation-broken" && c.hc.Event.Rel == r.Key
	if ru := r.Sides[side].Units[c.u.Name]; ru != nil && !ru.Broken && !breaking {
		for _, real := range ru.Seen {
			members = append(members, r.RemoteName(other, real))
		}
	}
	sort.Slice(members, func(i, j int) bool { return state.UnitLess(members[i], members[j]) })
	return c.write(members)
}

// bag returns the settings visible for target (a name as this unit sees it).
func (c *call) bag(r *state.Relation, side int, target string, app bool) (map[string]string, error) {
	relID := state.FormatRelID(r.Sides[side].Endpoint, r.Sides[side].ID)
	own := r.Sides[side]
	ownApp := c.u.App
	if a, n := state.SplitUnit(target); n >= 0 && app {
		target = a
	}
	switch {
	case !app && target == c.u.Name:
		res := copyMap(own.Units[c.u.Name].DataOrNil())
		for k, v := range c.hc.RelSets[r.Key] {
			if v == "" {
				delete(res, k)
			} else {
				res[k] = v
			}
		}
		return res, nil
	case app && target == ownApp:
		if !r.Peer && !c.isLeader() {
			return nil, fmt.Errorf("permission denied")
		}
		res := copyMap(own.AppData)
		for k, v := range c.hc.AppSets[r.Key] {
			if v == "" {
				delete(res, k)
			} else {
				res[k] = v
			}
		}
		return res, nil
	}
	other := r.Other(side)
	real, ok := r.RealName(other, target)
	if r.Peer {
		real, ok = target, true
		if a, _ := state.SplitUnit(target); a != ownApp && target != ownApp {
			ok = false
		}
	}
	if app {
		if !ok || real != r.Sides[other].App {
			return nil, fmt.Errorf("cannot read settings for application %q in relation %q: application %q: settings not found", target, relID, target)
		}
		return copyMap(r.Sides[other].AppData), nil
	}
	if _, n := state.SplitUnit(target); n < 0 {
		if ok {
			return nil, fmt.Errorf("expected unit name, got application name %q", target)
		}
		return nil, fmt.Errorf("invalid unit name %q", target)
	}
	var ru *state.RelUnit
	if ok {
		ru = r.Sides[other].Units[real]
	}
	if ru == nil {
		return nil, fmt.Errorf("cannot read settings for unit %q in relation %q: unit %q: settings not found", target, relID, target)
	}
	return copyMap(ru.Data), nil
}

func copyMap(m map[string]string) map[string]string {
	res := map[string]string{}
	for k, v := range m {
		res[k] = v
	}
	return res
}

func relationGet(c *call) error {
	rf := c.relationFlag()
	var app bool
	c.fs.Bool(&app, "app")
	if err := c.parse(); err != nil {
		return err
	}
	if err := rf.need(); err != nil {
		return err
	}
	key, args := keyArg(c.fs.Args)
	target := ""
	ev := c.hc.Event
	if r, _ := c.currentRel(); r != nil && r == rf.rel {
		other := r.Other(rf.side)
		if ev.RemoteUnit != "" {
			target = r.RemoteName(other, ev.RemoteUnit)
		} else if ev.RemoteApp != "" {
			target = r.RemoteName(other, ev.RemoteApp)
			if len(args) == 0 {
				app = true
			}
		}
	}
	if len(args) > 0 {
		target, args = args[0], args[1:]
	}
	if target == "" {
		return cmdline.Usagef("no unit or application specified")
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	bag, err := c.bag(rf.rel, rf.side, target, app)
	if err != nil {
		return err
	}
	if key == "" {
		return c.write(bag)
	}
	v, ok := bag[key]
	if !ok {
		return c.write(nil)
	}
	return c.write(v)
}

func relationSet(c *call) error {
	rf := c.relationFlag()
	var app bool
	var file, format string
	c.fs.Bool(&app, "app")
	c.fs.String(&file, "file")
	// --format is accepted but deprecated; it was registered by the runner as an output.
	if err := c.parse(); err != nil {
		return err
	}
	_ = format
	if err := rf.need(); err != nil {
		return err
	}
	kv, err := parseKeyValues(c.fs.Args)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	if c.fs.Seen["format"] {
		fmt.Fprintln(c.stderr, "--format flag deprecated for command \"relation-set\"")
	}
	settings := map[string]string{}
	if file != "" {
		data, err := c.readFileArg(file)
		if err != nil {
			return err
		}
		var fromFile map[string]any
		if err := yaml.Unmarshal(data, &fromFile); err != nil {
			return fmt.Errorf("cannot parse settings file: %v", err)
		}
		for k, v := range fromFile {
			if v == nil {
				settings[k] = ""
				continue
			}
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%q has non-string value", k)
			}
			settings[k] = s
		}
	}
	for k, v := range kv {
		settings[k] = v
	}
	if app && !c.isLeader() {
		return fmt.Errorf("cannot write relation settings")
	}
	key := rf.rel.Key
	target := &c.hc.RelSets
	if app {
		target = &c.hc.AppSets
	}
	if *target == nil {
		*target = map[int]map[string]string{}
	}
	if (*target)[key] == nil {
		(*target)[key] = map[string]string{}
	}
	for k, v := range settings {
		(*target)[key][k] = v
	}
	return nil
}

func relationModelGet(c *call) error {
	rf := c.relationFlag()
	if err := c.parse(); err != nil {
		return err
	}
	if err := rf.need(); err != nil {
		return err
	}
	other := rf.rel.Other(rf.side)
	return c.write(map[string]string{"uuid": rf.rel.Sides[other].Model})
}
