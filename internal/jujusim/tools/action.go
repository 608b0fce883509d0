package tools

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("action-get", actionGet, false, "smart")
	register("action-set", actionSet, true, "")
	register("action-fail", actionFail, true, "")
	register("action-log", actionLog, true, "")
}

func (c *call) action() (*state.Action, error) {
	if c.hc.Event.Kind != "action" {
		return nil, fmt.Errorf("not running an action")
	}
	a := c.m.Actions[c.hc.Event.Action]
	if a == nil {
		return nil, fmt.Errorf("not running an action")
	}
	return a, nil
}

func actionGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) == 0 {
		p := a.Params
		if p == nil {
			p = map[string]any{}
		}
		return c.write(p)
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	var cur any = a.Params
	for _, k := range strings.Split(args[0], ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return c.write(nil)
		}
		if cur, ok = m[k]; !ok {
			return c.write(nil)
		}
	}
	return c.write(cur)
}

var keyRule = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

func actionSet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	type kv struct {
		keys  []string
		value string
	}
	var sets []kv
	for _, arg := range c.fs.Args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return cmdline.Usagef("argument %q must be of the form key...=value", arg)
		}
		keys := strings.Split(k, ".")
		for _, seg := range keys {
			if !keyRule.MatchString(seg) {
				return cmdline.Usagef("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods", seg)
			}
		}
		switch keys[0] {
		case "stdout", "stdout-encoding", "stderr", "stderr-encoding":
			return cmdline.Usagef("cannot set reserved action key %q", keys[0])
		}
		sets = append(sets, kv{keys, v})
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	if a.Results == nil {
		a.Results = map[string]any{}
	}
	for _, s := range sets {
		m := a.Results
		for _, k := range s.keys[:len(s.keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[s.keys[len(s.keys)-1]] = s.value
	}
	return nil
}

func actionFail(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	msg := "action failed without reason given, check action for errors"
	if len(c.fs.Args) > 0 {
		msg = c.fs.Args[0]
		if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
			return err
		}
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	a.Status = "failed"
	a.Message = msg
	return nil
}

func actionLog(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no message specified")
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	a.Log = append(a.Log, state.ActionLog{Time: time.Now().UTC(), Message: strings.Join(c.fs.Args, " ")})
	return nil
}
