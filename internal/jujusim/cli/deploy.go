package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
)

func init() {
	reg("deploy", "CHARM_DIR|FILE.charm [APP] [-n N] [--storage NAME=[POOL,]SIZE] [--attach-storage ID[,ID]] [--config K=V|FILE] [--to MACHINE[,MACHINE]]", cmdDeploy)
	reg("add-unit", "APP [-n N] [--attach-storage ID] [--to MACHINE[,MACHINE]]", cmdAddUnit)
	reg("remove-unit", "UNIT... [--destroy-storage]", cmdRemoveUnit)
	reg("elect", "UNIT", cmdElect)
	reg("remove-application", "APP [--destroy-storage]", cmdRemoveApplication, "remove-saas")
	reg("refresh", "APP --path CHARM", cmdRefresh, "upgrade-charm")
}

func storageArgs(list []string) (map[string]string, error) {
	res := map[string]string{}
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, cmdline.Usagef("expected NAME=[POOL,][SIZE][,COUNT] for --storage, got %q", s)
		}
		res[k] = v
	}
	return res, nil
}

func splitList(list []string) []string {
	var res []string
	for _, s := range list {
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				res = append(res, x)
			}
		}
	}
	return res
}

// placement parses --to as Juju's UnitCommandBase.Init does
// (cmd/juju/application/addunit.go; deploy takes the same): a comma-separated list, one
// directive per unit in order, extra ones ignored with a warning. jujusim's only directive
// is an existing machine's id; containers (lxd:N), zones and new machines are refused.
func placement(c *env, spec string, n int) ([]string, error) {
	if spec == "" {
		return nil, nil
	}
	if n < 1 {
		n = 1
	}
	var to []string
	for _, p := range strings.Split(spec, ",") {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil || (len(p) > 1 && p[0] == '0') {
			return nil, cmdline.Usagef("invalid --to parameter %q: jujusim places units on existing machines only (--to MACHINE, see add-machine)", p)
		}
		to = append(to, p)
	}
	if len(to) > n {
		fmt.Fprintf(c.stderr, "WARNING %d unit(s) will be deployed, extra placement directives will be ignored\n", n)
		to = to[:n]
	}
	return to, nil
}

func cmdDeploy(c *env) error {
	var n int
	var to string
	var storage, attach, config []string
	var ignored string
	c.fs.Int(&n, "n", "num-units")
	c.fs.StringList(&storage, "storage")
	c.fs.StringList(&attach, "attach-storage")
	c.fs.StringList(&config, "config")
	c.fs.String(&to, "to")
	c.fs.String(&ignored, "base")
	c.fs.String(&ignored, "series")
	c.fs.String(&ignored, "channel")
	c.fs.String(&ignored, "constraints")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "deploy CHARM [APP]"); err != nil {
		return err
	}
	a := engine.DeployArgs{Charm: args[0], N: n, AttachStorage: splitList(attach), Config: map[string]string{}}
	if a.To, err = placement(c, to, n); err != nil {
		return err
	}
	if len(args) > 1 {
		a.App = args[1]
	}
	if a.Storage, err = storageArgs(storage); err != nil {
		return err
	}
	for _, cv := range config {
		if k, v, ok := strings.Cut(cv, "="); ok {
			a.Config[k] = v
		} else {
			a.ConfigFile = cv
		}
	}
	if err := c.e.Deploy(c.ctx, c.ref(), a); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Deploying charm %q.\n", args[0])
	return c.settle()
}

func cmdAddUnit(c *env) error {
	var n int
	var spec string
	var attach []string
	c.fs.Int(&n, "n", "num-units")
	c.fs.StringList(&attach, "attach-storage")
	c.fs.String(&spec, "to")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "add-unit APP"); err != nil {
		return err
	}
	to, err := placement(c, spec, n)
	if err != nil {
		return err
	}
	if err := c.e.AddUnit(c.ctx, c.ref(), args[0], n, splitList(attach), to); err != nil {
		return err
	}
	return c.settle()
}

func cmdRemoveUnit(c *env) error {
	return removeEach(c, "remove-unit UNIT", "unit", c.e.RemoveUnit)
}

// removeEach is remove-unit and remove-application: each named entity becomes dying (its
// storage destroyed with --destroy-storage, else kept), then the teardown hooks run.
// --force and --no-prompt are accepted as juju's, and change nothing here.
func removeEach(c *env, usage, what string, remove func(ref engine.ModelRef, name string, destroyStorage bool) error) error {
	var destroy, force, noPrompt bool
	c.fs.Bool(&destroy, "destroy-storage")
	c.fs.Bool(&force, "force")
	c.fs.Bool(&noPrompt, "no-prompt")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, usage); err != nil {
		return err
	}
	for _, name := range args {
		if err := remove(c.ref(), name, destroy); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "will remove %s %s\n", what, name)
	}
	return c.settle()
}

func cmdElect(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "elect UNIT"); err != nil {
		return err
	}
	if err := c.e.Elect(c.ref(), args[0]); err != nil {
		return err
	}
	return c.settle()
}

func cmdRemoveApplication(c *env) error {
	return removeEach(c, "remove-application APP", "application", c.e.RemoveApplication)
}

func cmdRefresh(c *env) error {
	var path string
	c.fs.String(&path, "path")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "refresh APP --path CHARM"); err != nil {
		return err
	}
	if path == "" {
		return cmdline.Usagef("jujusim refreshes local charms only: --path CHARM is required")
	}
	if err := c.e.Refresh(c.ctx, c.ref(), args[0], path); err != nil {
		return err
	}
	return c.settle()
}
