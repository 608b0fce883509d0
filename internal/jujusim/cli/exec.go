package cli

import (
	"errors"
	"os"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
)

func init() {
	reg("exec", "--unit UNIT -- CMD... | UNIT -- CMD...", cmdExec)
	reg("ssh", "UNIT|MACHINE [CMD...]", cmdSSH)
}

func cmdExec(c *env) error {
	var units []string
	var timeout string
	c.fs.StringList(&units, "u", "unit")
	c.fs.String(&timeout, "timeout")
	c.fs.StopAtArg = true
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(units) == 0 {
		if len(args) < 1 {
			return cmdline.Usagef("missing arguments: exec UNIT -- CMD...")
		}
		units, args = []string{args[0]}, args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return cmdline.Usagef("no commands specified")
	}
	if len(args) == 1 {
		args = []string{"/bin/sh", "-c", args[0]}
	}
	out, _ := c.stdout.(*os.File)
	errf, _ := c.stderr.(*os.File)
	if out == nil || errf == nil {
		return errors.New("exec needs real stdout/stderr files")
	}
	code, err := c.e.ExecInContext(c.ctx, c.ref(), units[0], args, [3]*os.File{c.stdin, out, errf})
	if err != nil {
		return err
	}
	if err := c.settle(); err != nil {
		return err
	}
	if code != 0 {
		os.Exit(code)
	}
	return nil
}

func cmdSSH(c *env) error {
	c.fs.StopAtArg = true
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "ssh UNIT [CMD...]"); err != nil {
		return err
	}
	if len(args) > 1 && args[1] == "--" {
		args = append(args[:1], args[2:]...)
	}
	var argv []string
	if len(args) > 1 {
		// ssh hands the remote shell one command line.
		argv = []string{"/bin/sh", "-c", strings.Join(args[1:], " ")}
	}
	return c.execIn(args[0], argv)
}

func (c *env) execIn(unit string, argv []string) error {
	out, _ := c.stdout.(*os.File)
	errf, _ := c.stderr.(*os.File)
	if out == nil || errf == nil {
		return errors.New("exec needs real stdout/stderr files")
	}
	code, err := c.e.Exec(c.ctx, c.ref(), unit, argv, [3]*os.File{c.stdin, out, errf})
	if err != nil {
		return err
	}
	if code != 0 {
		os.Exit(code)
	}
	return nil
}
