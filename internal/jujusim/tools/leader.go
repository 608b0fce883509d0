package tools

import (
	"fmt"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("is-leader", isLeader, false, "smart")
	register("leader-get", leaderGet, false, "smart")
	register("leader-set", leaderSet, true, "")
}

func isLeader(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	return c.write(c.isLeader())
}

func leaderGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	key, args := keyArg(c.fs.Args)
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	settings := copyMap(c.app.LeaderSettings)
	if key == "" {
		return c.write(settings)
	}
	v, ok := settings[key]
	if !ok {
		return c.write(nil)
	}
	return c.write(v)
}

func leaderSet(c *call) error {
	var file string
	c.fs.String(&file, "file")
	if err := c.parse(); err != nil {
		return err
	}
	kv, err := parseKeyValues(c.fs.Args)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	if !c.isLeader() {
		return fmt.Errorf("cannot write leadership settings: cannot write settings: not the leader")
	}
	if c.app.LeaderSettings == nil {
		c.app.LeaderSettings = map[string]string{}
	}
	changed := false
	for k, v := range kv {
		old, had := c.app.LeaderSettings[k]
		if v == "" {
			if had {
				delete(c.app.LeaderSettings, k)
				changed = true
			}
			continue
		}
		if !had || old != v {
			c.app.LeaderSettings[k] = v
			changed = true
		}
	}
	if changed {
		for _, u := range c.m.UnitsOf(c.app.Name) {
			if u.Name != c.u.Name && u.Life == "alive" && u.Installed {
				u.Enqueue(state.Event{Kind: "leader-settings-changed"})
			}
		}
	}
	return nil
}
