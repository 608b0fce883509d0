package tools

import (
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("goal-state", goalState, false, "yaml")
}

type goalStatus struct {
	Status string `yaml:"status" json:"status"`
	Since  string `yaml:"since,omitempty" json:"since,omitempty"`
}

func goalState(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	since := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
	unitStatus := func(u *state.Unit) goalStatus {
		s := "active"
		if u.Life != "alive" {
			s = "dying"
		} else if !u.Started {
			s = "waiting"
		}
		return goalStatus{Status: s, Since: since(u.Agent.Since)}
	}
	units := map[string]goalStatus{}
	for _, u := range c.m.UnitsOf(c.u.App) {
		units[u.Name] = unitStatus(u)
	}
	rels := map[string]map[string]goalStatus{}
	for _, r := range c.st.RelationsOfApp(c.m.UUID, c.u.App) {
		side := r.SideOf(c.m.UUID, c.u.App)
		s := r.Sides[side]
		o := r.Sides[r.Other(side)]
		if rels[s.Endpoint] == nil {
			rels[s.Endpoint] = map[string]goalStatus{}
		}
		rels[s.Endpoint][o.Alias] = goalStatus{Status: "joined"}
		if om := c.st.Models[o.Model]; om != nil {
			for _, u := range om.UnitsOf(o.App) {
				if r.Peer && u.Name == c.u.Name {
					continue
				}
				gs := unitStatus(u)
				rels[s.Endpoint][r.RemoteName(r.Other(side), u.Name)] = gs
			}
		}
	}
	return c.write(map[string]any{"units": units, "relations": rels})
}
