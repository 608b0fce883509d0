package cli

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	reg("show-unit", "UNIT.. [--format=yaml|json]  (relation data as the unit's relations hold it)", cmdShowUnit)
}

// showUnit is juju 3's `show-unit` for one unit.
func showUnit(st *state.State, m *state.Model, u *state.Unit) map[string]any {
	app := m.Apps[u.App]
	out := map[string]any{
		"machine": u.Machine, "life": u.Life, "charm": "local:" + app.CharmName + "-" + fmt.Sprint(app.Revision),
		"workload-status": sv(u.Workload), "juju-status": sv(u.Agent),
	}
	if app.Leader == u.Name {
		out["leader"] = true
	}
	if app.Version != "" {
		out["workload-version"] = app.Version
	}
	if mc := m.Machines[u.Machine]; mc != nil {
		out["public-address"] = mc.PublicAddress()
	}
	if len(u.Ports) > 0 {
		out["opened-ports"] = u.Ports
	}
	var infos []map[string]any
	for _, r := range st.RelationsOfApp(m.UUID, u.App) {
		side := r.SideOf(m.UUID, u.App)
		s := r.Sides[side]
		o := r.Sides[r.Other(side)]
		info := map[string]any{"relation-id": s.ID, "endpoint": s.Endpoint, "related-endpoint": o.Endpoint,
			"application-data": nonNil(o.AppData)}
		if ru := s.Units[u.Name]; ru != nil {
			info["local-unit"] = map[string]any{"in-scope": ru.InScope, "data": nonNil(ru.Data)}
		}
		related := map[string]any{}
		names := make([]string, 0, len(o.Units))
		for n := range o.Units {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if n == u.Name {
				continue
			}
			ru := o.Units[n]
			related[r.RemoteName(r.Other(side), n)] = map[string]any{"in-scope": ru.InScope, "data": nonNil(ru.Data)}
		}
		if len(related) > 0 {
			info["related-units"] = related
		}
		infos = append(infos, info)
	}
	if len(infos) > 0 {
		out["relation-info"] = infos
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func cmdShowUnit(c *env) error {
	var format string
	c.fs.String(&format, "format")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return cmdline.Usagef("no unit specified")
	}
	return c.e.Store.View(func(st *state.State) error {
		m, err := modelOf(st, c.ref())
		if err != nil {
			return err
		}
		doc := map[string]any{}
		for _, name := range args {
			u := m.Units[name]
			if u == nil {
				return fmt.Errorf("unit %q not found", name)
			}
			doc[name] = showUnit(st, m, u)
		}
		if format == "json" {
			data, _ := json.Marshal(doc)
			fmt.Fprintln(c.stdout, string(data))
			return nil
		}
		data, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(data)
		return err
	})
}
