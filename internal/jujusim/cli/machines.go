package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
	"github.com/pgcharm/postgresql/internal/jujusim/image"
)

// Verbs of machines: their images and faults (reboot, crash, partition, ...).
func init() {
	reg("image", "build [--base debian@12] [--packages P[,P]] [--force] | show [--base ...] [--packages ...]  (machine images)", cmdImage)
	reg("reboot", "MACHINE|UNIT  (clean poweroff, boot on the same disk and volumes; the units run start)", faultVerb((*engine.Engine).Reboot))
	reg("crash", "MACHINE|UNIT  (SIGKILL of PID 1: units stay, lost, and run no hooks)", faultVerb((*engine.Engine).Crash))
	reg("start-machine", "MACHINE|UNIT  (boot a crashed machine on the disk the crash left; the units run start)", faultVerb((*engine.Engine).StartMachine))
	reg("partition", "MACHINE|UNIT  (cut its network both ways; processes keep running, hooks wait for heal)", faultVerb((*engine.Engine).Partition))
	reg("heal", "MACHINE|UNIT  (restore a partitioned machine's network; held hooks run)", faultVerb((*engine.Engine).Heal))
	reg("add-machine", "[-n N] [--base debian@12]  (empty machines, booted; deploy/add-unit --to places units on them)", cmdAddMachine)
	reg("remove-machine", "MACHINE... [--force]  (remove empty machines; --force also one with units, running none of their hooks)", cmdRemoveMachine)
	reg("machine-exited", "DIR STATUS  (internal: a machine's keeper reports PID 1's unasked end; a reboot boots it again)", cmdMachineExited)
}

// cmdMachineExited is run by a machine's keeper when PID 1 ended unasked
// (engine.MachineExited), then runs the hooks that causes (the units' start after a
// reboot), as the controller would on its own.
func cmdMachineExited(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "machine-exited DIR STATUS"); err != nil {
		return err
	}
	status, err := strconv.Atoi(args[1])
	if err != nil {
		return cmdline.Usagef("bad status %q", args[1])
	}
	if err := c.e.MachineExited(c.ctx, args[0], status); err != nil {
		return err
	}
	return c.settle()
}

// faultVerb makes a CLI verb of an engine fault: one machine (or a unit's machine), then the
// hooks it causes, unless --no-wait.
func faultVerb(f func(*engine.Engine, context.Context, engine.ModelRef, string) error) func(c *env) error {
	return func(c *env) error {
		args, err := c.parse()
		if err != nil {
			return err
		}
		if err := nargs(args, 1, 1, "MACHINE"); err != nil {
			return err
		}
		if err := f(c.e, c.ctx, c.ref(), args[0]); err != nil {
			return err
		}
		return c.settle()
	}
}

// cmdAddMachine is juju add-machine with no placement (cmd/juju/machine/add.go): n new
// machines, each reported as "created machine N" on stderr, and "failed to create N
// machine(s)" before the errors of those that failed.
func cmdAddMachine(c *env) error {
	n := 1
	var base, ignored string
	c.fs.Int(&n, "n")
	c.fs.String(&base, "base")
	c.fs.String(&ignored, "constraints")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return cmdline.Usagef("add-machine %s: jujusim makes new machines only (no containers, ssh: or placement)", args[0])
	}
	if n < 1 {
		return cmdline.Usagef("--num-machines must be a positive integer")
	}
	if base != "" && base != image.DefaultBase {
		return cmdline.Usagef("base %q is not supported: jujusim machines are %s", base, image.DefaultBase)
	}
	ids, err := c.e.AddMachines(c.ctx, c.ref(), n, base)
	for _, id := range ids {
		fmt.Fprintf(c.stderr, "created machine %s\n", id)
	}
	if err != nil && len(ids) < n {
		if failed := n - len(ids); failed == 1 {
			fmt.Fprintf(c.stderr, "failed to create 1 machine\n")
		} else {
			fmt.Fprintf(c.stderr, "failed to create %d machines\n", failed)
		}
	}
	return err
}

// cmdRemoveMachine is juju remove-machine (cmd/juju/machine/remove.go): for each machine
// "removing machine N", or "removing machine N failed: ..." (a machine with units without
// --force: state/machine.go's HasAssignedUnitsError) and exit status 1. --force removes a
// machine with its units, running none of their hooks (for a machine whose agent is gone).
func cmdRemoveMachine(c *env) error {
	var force, noPrompt bool
	c.fs.Bool(&force, "force")
	c.fs.Bool(&noPrompt, "no-prompt")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "remove-machine MACHINE... [--force]"); err != nil {
		return err
	}
	failed := false
	for _, id := range args {
		if err := c.e.RemoveMachine(c.ctx, c.ref(), id, force); err != nil {
			fmt.Fprintf(c.stderr, "removing machine %s failed: %v\n", id, err)
			failed = true
			continue
		}
		fmt.Fprintf(c.stderr, "removing machine %s\n", id)
	}
	if err := c.settle(); err != nil {
		return err
	}
	if failed {
		return errSilent
	}
	return nil
}

func cmdImage(c *env) error {
	var base string
	var pkgs []string
	var force bool
	c.fs.String(&base, "base")
	c.fs.StringList(&pkgs, "packages")
	c.fs.Bool(&force, "force")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "image build|show"); err != nil {
		return err
	}
	r := image.Default()
	if base != "" {
		r.Base = base
	}
	r.Packages = append(r.Packages, pkgs...)
	switch args[0] {
	case "build":
		build := image.Build
		if force {
			build = image.Rebuild
		}
		img, err := build(c.ctx, image.CacheDir(), r, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, img.Dir)
		return nil
	case "show":
		img, err := image.Find(image.CacheDir(), r)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, img.Dir)
		return nil
	}
	return fmt.Errorf("image %s: unknown subcommand (want build or show)", args[0])
}
