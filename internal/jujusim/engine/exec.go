package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// Exec runs a command in a unit's machine as root, with stdio attached.
func (e *Engine) Exec(ctx context.Context, ref ModelRef, unitName string, argv []string, stdio [3]*os.File) (int, error) {
	var mc state.Machine
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			// juju ssh also accepts a machine number
			if x := m.Machines[unitName]; x != nil {
				mc = *x
				return nil
			}
			return fmt.Errorf("unit %q not found", unitName)
		}
		x := m.Machines[u.Machine]
		if x == nil {
			return fmt.Errorf("unit %q has no machine", unitName)
		}
		mc = *x
		return nil
	})
	if err != nil {
		return 1, err
	}
	mach, err := e.loadMachine(&mc)
	if err != nil {
		return 1, err
	}
	if len(argv) == 0 {
		argv = []string{"/bin/bash", "-l"}
	}
	cmd := mach.Command(ctx, "/usr/bin/env", append([]string{"-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "USER=root", "LANG=C.UTF-8", "TERM=" + envOr("TERM", "xterm")}, argv...)...)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	err = cmd.Run()
	if err != nil {
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 1, err
	}
	return 0, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
