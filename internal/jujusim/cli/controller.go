package cli

import (
	"fmt"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	reg("bootstrap", "[CLOUD] CONTROLLER [--subnet CIDR]", cmdBootstrap)
	reg("add-model", "MODEL [-c CONTROLLER]", cmdAddModel)
	reg("switch", "CONTROLLER | CONTROLLER:[OWNER/]MODEL | MODEL", cmdSwitch)
	reg("destroy-model", "MODEL [--release-storage | --destroy-storage] [-y]", cmdDestroyModel)
	reg("model-config", "[K=V ... | K]", cmdModelConfig)
	reg("kill-controller", "NAME | --all [-y]", cmdKillController)
	reg("controllers", "", cmdControllers)
	reg("models", "", cmdModels)
}

func cmdBootstrap(c *env) error {
	var subnet string
	var dummy string
	c.fs.String(&subnet, "subnet")
	c.fs.String(&dummy, "constraints")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "bootstrap [CLOUD] CONTROLLER"); err != nil {
		return err
	}
	name := args[len(args)-1]
	fmt.Fprintf(c.stderr, "Creating Juju controller %q on jujusim\n", name)
	ctrl, err := c.e.Bootstrap(c.ctx, name, subnet)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Bootstrap complete, %q controller now available (subnet %s, host address %s)\n", name, ctrl.Subnet, ctrl.HostAddr)
	fmt.Fprintln(c.stderr, "Initial model \"default\" added")
	return nil
}

func cmdAddModel(c *env) error {
	var ctrl string
	c.fs.String(&ctrl, "c", "controller")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "add-model MODEL"); err != nil {
		return err
	}
	if err := c.e.AddModel(ctrl, args[0]); err != nil {
		return err
	}
	cur, _ := c.e.Current()
	fmt.Fprintf(c.stderr, "Added '%s' model on jujusim/%s with credential 'jujusim' for user 'admin'\n", args[0], cur.Controller)
	return nil
}

func cmdSwitch(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		cur, err := c.e.Current()
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, cur.String())
		return nil
	}
	if err := nargs(args, 1, 1, "switch TARGET"); err != nil {
		return err
	}
	msg, err := c.e.Switch(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, msg)
	return nil
}

func cmdModelConfig(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) == 1 && !strings.Contains(args[0], "=") {
		cfg, err := c.e.ModelConfig(c.ref())
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, cfg[args[0]])
		return nil
	}
	if len(args) == 0 {
		cfg, err := c.e.ModelConfig(c.ref())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%-30s %-8s %s\n", "Attribute", "From", "Value")
		for _, k := range sortedKeys(cfg) {
			fmt.Fprintf(c.stdout, "%-30s %-8s %s\n", k, "model", cfg[k])
		}
		return nil
	}
	kv, err := kvArgs(args)
	if err != nil {
		return err
	}
	return c.e.SetModelConfig(c.ref(), kv)
}

func cmdKillController(c *env) error {
	var all, yes bool
	var timeout string
	c.fs.Bool(&all, "all")
	c.fs.Bool(&yes, "y", "yes", "no-prompt")
	c.fs.String(&timeout, "t", "timeout")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if all {
		if err := nargs(args, 0, 0, "kill-controller --all"); err != nil {
			return err
		}
		return c.e.KillAll(c.ctx)
	}
	if err := nargs(args, 1, 1, "kill-controller NAME"); err != nil {
		return err
	}
	return c.e.KillController(c.ctx, args[0])
}

func cmdDestroyModel(c *env) error {
	var release, destroy, yes, force bool
	var timeout string
	c.fs.Bool(&release, "release-storage")
	c.fs.Bool(&destroy, "destroy-storage")
	c.fs.Bool(&yes, "y", "yes", "no-prompt")
	c.fs.Bool(&force, "force")
	c.fs.String(&timeout, "t", "timeout")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "destroy-model MODEL"); err != nil {
		return err
	}
	if release && destroy {
		return cmdline.Usagef("--destroy-storage and --release-storage cannot both be specified")
	}
	ref := engine.ModelRef{Model: args[0]}
	if ctrl, m, ok := strings.Cut(args[0], ":"); ok {
		if i := strings.IndexByte(m, '/'); i >= 0 {
			m = m[i+1:]
		}
		ref = engine.ModelRef{Controller: ctrl, Model: m}
	}
	fmt.Fprintln(c.stderr, "Destroying model")
	if err := c.e.DestroyModel(c.ctx, ref, release, destroy); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "Model destroyed.")
	return nil
}

func cmdControllers(c *env) error {
	if _, err := c.parse(); err != nil {
		return err
	}
	return c.e.Store.View(func(st *state.State) error {
		cur, _, _ := strings.Cut(st.Current, ":")
		fmt.Fprintf(c.stdout, "%-14s %-18s %-16s\n", "Controller", "Subnet", "Host address")
		for _, n := range sortedKeys(st.Controllers) {
			ct := st.Controllers[n]
			mark := ""
			if n == cur {
				mark = "*"
			}
			fmt.Fprintf(c.stdout, "%-14s %-18s %-16s\n", n+mark, ct.Subnet, ct.HostAddr)
		}
		return nil
	})
}

func cmdModels(c *env) error {
	if _, err := c.parse(); err != nil {
		return err
	}
	return c.e.Store.View(func(st *state.State) error {
		fmt.Fprintf(c.stdout, "%-30s %-8s\n", "Model", "Units")
		for _, m := range st.SortedModels() {
			mark := ""
			if st.Current == m.Controller+":admin/"+m.Name {
				mark = "*"
			}
			fmt.Fprintf(c.stdout, "%-30s %-8d\n", m.Controller+":admin/"+m.Name+mark, len(m.Units))
		}
		return nil
	})
}
