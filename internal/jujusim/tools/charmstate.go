package tools

import (
	"fmt"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"gopkg.in/yaml.v2"
)

func init() {
	register("state-get", stateGet, false, "smart")
	register("state-set", stateSet, true, "")
	register("state-delete", stateDelete, true, "")
}

func stateGet(c *call) error {
	var strict bool
	c.fs.Bool(&strict, "strict")
	if err := c.parse(); err != nil {
		return err
	}
	key, args := keyArg(c.fs.Args)
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	cs := copyMap(c.u.State)
	for k, v := range c.hc.StateSets {
		if v == nil {
			delete(cs, k)
		} else {
			cs[k] = *v
		}
	}
	if key == "" {
		if len(cs) == 0 {
			return c.write(nil)
		}
		return c.write(cs)
	}
	v, ok := cs[key]
	if !ok && strict {
		return fmt.Errorf("%q not found", key)
	}
	return c.write(v)
}

const (
	maxStateKey   = 256
	maxStateValue = 64 * 1024
)

func stateSet(c *call) error {
	var file string
	c.fs.String(&file, "file")
	if err := c.parse(); err != nil {
		return err
	}
	kv, err := parseKeyValues(c.fs.Args)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	settings := map[string]string{}
	if file != "" {
		data, err := c.readFileArg(file)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, &settings); err != nil {
			return fmt.Errorf("cannot parse state file: %v", err)
		}
	}
	for k, v := range kv {
		settings[k] = v
	}
	if c.hc.StateSets == nil {
		c.hc.StateSets = map[string]*string{}
	}
	for k, v := range settings {
		if len(k) > maxStateKey {
			return fmt.Errorf("key too large: %d bytes, max %d", len(k), maxStateKey)
		}
		if len(v) > maxStateValue {
			return fmt.Errorf("value too large: %d bytes, max %d", len(v), maxStateValue)
		}
		// An empty value is stored as such; only state-delete deletes.
		v := v
		c.hc.StateSets[k] = &v
	}
	return nil
}

func stateDelete(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no key specified")
	}
	if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
		return err
	}
	if c.hc.StateSets == nil {
		c.hc.StateSets = map[string]*string{}
	}
	c.hc.StateSets[c.fs.Args[0]] = nil
	return nil
}
