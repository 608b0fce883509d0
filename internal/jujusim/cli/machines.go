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
	reg("remove-machine", "MACHINE --force  (remove a machine whose agent is gone, with its units, running none of their hooks)", cmdRemoveMachine)
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

func cmdRemoveMachine(c *env) error {
	var force bool
	c.fs.Bool(&force, "force")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "remove-machine MACHINE --force"); err != nil {
		return err
	}
	if !force {
		return fmt.Errorf("remove-machine without --force: remove the machine's units instead (remove-unit); --force removes a machine whose agent is gone")
	}
	if err := c.e.RemoveMachineForce(c.ctx, c.ref(), args[0]); err != nil {
		return err
	}
	return c.settle()
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
