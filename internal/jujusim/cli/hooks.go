package cli

import (
	"fmt"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	reg("resolve", "UNIT [--no-retry]", cmdResolve, "resolved")
	reg("wait", "[--update-status]  (run hooks to quiescence; fails if a unit is in error)", cmdWait)
	reg("run-hook", "UNIT HOOK  (queue update-status, config-changed, ... and run it)", cmdRunHook)
}

func cmdResolve(c *env) error {
	var noRetry bool
	c.fs.Bool(&noRetry, "no-retry")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "resolve UNIT"); err != nil {
		return err
	}
	for _, u := range args {
		if err := c.e.Resolve(c.ref(), u, noRetry); err != nil {
			return err
		}
	}
	return c.settle()
}

func cmdWait(c *env) error {
	var us bool
	c.fs.Bool(&us, "update-status")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 0, 0, "wait"); err != nil {
		return err
	}
	if us {
		if err := c.e.UpdateStatus(); err != nil {
			return err
		}
	}
	if err := c.e.Settle(c.ctx); err != nil {
		return err
	}
	var failed []string
	err = c.e.Store.View(func(st *state.State) error {
		for _, m := range st.SortedModels() {
			for _, n := range m.SortedUnitNames() {
				if u := m.Units[n]; u.Failed != nil {
					failed = append(failed, fmt.Sprintf("%s:%s (%s)", m.Name, n, u.Workload.Message))
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("units in error: %s", strings.Join(failed, ", "))
	}
	return nil
}

func cmdRunHook(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "run-hook UNIT HOOK"); err != nil {
		return err
	}
	if err := c.e.RunHook(c.ref(), args[0], args[1]); err != nil {
		return err
	}
	return c.settle()
}
