package tools

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("status-set", statusSet, true, "")
	register("status-get", statusGet, false, "smart")
	register("application-version-set", appVersionSet, true, "")
}

var validStatus = []string{"maintenance", "blocked", "waiting", "active"}

func statusSet(c *call) error {
	var application bool
	c.fs.Bool(&application, "application")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("invalid args, require <status> [message] [data]")
	}
	ok := false
	for _, s := range validStatus {
		if args[0] == s {
			ok = true
		}
	}
	if !ok {
		return cmdline.Usagef("invalid status %q, expected one of [%s]", args[0], strings.Join(validStatus, " "))
	}
	msg := ""
	if len(args) > 1 {
		msg = args[1]
		if err := cmdline.CheckEmpty(args[2:]); err != nil {
			return err
		}
	}
	st := state.Status{Current: args[0], Message: msg, Since: time.Now().UTC()}
	if application {
		if !c.isLeader() {
			return fmt.Errorf("this unit is not the leader")
		}
		c.app.Status = st
		return nil
	}
	c.u.Workload = st
	return nil
}

func statusMap(s state.Status, data bool) map[string]any {
	cur := s.Current
	if cur == "" {
		cur = "unknown"
	}
	res := map[string]any{"status": cur}
	if data {
		res["message"] = s.Message
		d := s.Data
		if d == nil {
			d = map[string]any{}
		}
		res["status-data"] = d
	}
	return res
}

func statusGet(c *call) error {
	var data, application bool
	c.fs.Bool(&data, "include-data")
	c.fs.Bool(&application, "application")
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	if application {
		if !c.isLeader() {
			return fmt.Errorf("finding application status: this unit is not the leader")
		}
		as := statusMap(c.app.Status, true)
		units := map[string]any{}
		for _, u := range c.m.UnitsOf(c.app.Name) {
			units[u.Name] = statusMap(u.Workload, true)
		}
		as["units"] = units
		return c.write(map[string]any{"application-status": as})
	}
	if !data && c.out.Format == "smart" {
		return c.write(statusMap(c.u.Workload, false)["status"])
	}
	return c.write(statusMap(c.u.Workload, data))
}

func appVersionSet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no version specified")
	}
	if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
		return err
	}
	c.app.Version = c.fs.Args[0]
	return nil
}
