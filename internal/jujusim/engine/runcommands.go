package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// RunArgs is one juju-exec request: commands to run in a unit's hook context
// (uniter.RunCommandsArgs in Juju's cmd/jujud/run).
type RunArgs struct {
	Model           string // model UUID
	Unit            string
	RelationID      int    // -1: no relation context
	RemoteUnit      string // as the unit sees it (an offer's alias for cross-model)
	RemoteApp       string
	ForceRemoteUnit bool
	// OnMachine: juju-exec on the unit's machine, which needs the unit's agent running and
	// connected (the uniter serves its run socket). `jujusim exec` from the host does not
	// (a debugging door into partitioned machines, as tests use it).
	OnMachine bool
}

// Runner runs the commands with env in the unit's charm directory and returns their exit
// code; err is for a failure to run them at all.
type Runner func(ctx context.Context, env []string, charmDir string) (code int, err error)

// ErrAgentUnreachable is juju-exec's failure on a machine whose agent cannot reach the
// controller (partitioned): the uniter, and with it its run socket, is down.
var ErrAgentUnreachable = errors.New("dialing juju run socket: the unit agent is not running (its machine cannot reach the controller)")

// RunCommands runs a juju-exec command in a unit's hook context, as Juju 3.6's uniter does
// for `juju-exec` on the unit's machine (cmd/jujud/run.go sends the request to the
// uniter's run socket; worker/uniter/runcommands queues it; worker/uniter/runner/runner.go
// RunCommands runs it):
//
//   - it waits until the unit runs no hook or action, and runs before the unit's queued
//     hooks (commands come before hooks in worker/uniter/resolver.go); it also runs on a
//     unit in error;
//   - its environment is a hook's (HookVars) without JUJU_DISPATCH_PATH, which only hooks
//     and actions get, and with JUJU_HOOK_NAME empty (a command context has no hook); with
//     a relation it has JUJU_RELATION, JUJU_RELATION_ID, JUJU_REMOTE_UNIT and JUJU_REMOTE_APP;
//   - its tools' writes are buffered and committed when it ends, whatever its exit code
//     (utils/exec reports a non-zero exit as a code, not an error, so Flush commits), and
//     dropped when it could not run or was killed;
//   - the writes queue hooks as a hook's do; they run at the next Settle (the controller
//     delivers them at once on Juju).
func (e *Engine) RunCommands(ctx context.Context, args RunArgs, run Runner) (int, error) {
	// Leases lapse on the controller's clock, which jujusim only has in its commands: a
	// surviving unit's agent calling juju-exec after its leader's machine died must find the
	// leadership moved (is-leader true on the new leader), not wait for a host command.
	if err := e.ExpireLeases(); err != nil {
		return 1, err
	}
	release, err := e.lockUnitForCommands(args.Model, args.Unit)
	if err != nil {
		return 1, err
	}
	defer release()
	var (
		ctxID, modelName, charmDir string
		env                        []string
	)
	err = e.Store.Update(func(st *state.State) error {
		m := st.Models[args.Model]
		if m == nil {
			return fmt.Errorf("model %s not found", args.Model)
		}
		u := m.Units[args.Unit]
		if u == nil || u.Removed {
			return fmt.Errorf("unit %q not found on this machine", args.Unit)
		}
		if args.OnMachine && !m.Machines[u.Machine].Reachable() {
			return ErrAgentUnreachable
		}
		ev, err := commandEvent(st, m, u, args)
		if err != nil {
			return err
		}
		modelName = m.Name
		ctxID = fmt.Sprintf("%s-run-commands-%d", strings.ReplaceAll(u.Name, "/", "-"), st.NextSeq())
		st.Contexts[ctxID] = &state.HookContext{ID: ctxID, Model: m.UUID, Unit: u.Name, Event: ev, Hook: "juju-exec"}
		charmDir = AgentDir(u.Name) + "/charm"
		for _, kv := range e.hookEnv(st, m, u, m.Apps[u.App], ev, "", ctxID, charmDir, "hooks") {
			if !strings.HasPrefix(kv, "JUJU_DISPATCH_PATH=") {
				env = append(env, kv)
			}
		}
		return nil
	})
	if err != nil {
		return 1, err
	}
	start := time.Now()
	code, runErr := run(ctx, env, charmDir)
	dur := time.Since(start)
	var after []func()
	uerr := e.Store.Update(func(st *state.State) error {
		hc := st.Contexts[ctxID]
		delete(st.Contexts, ctxID)
		m := st.Models[args.Model]
		if m == nil || hc == nil || runErr != nil {
			return nil
		}
		if u := m.Units[args.Unit]; u != nil && !u.Removed {
			after = e.commit(st, m, u, hc)
		}
		return nil
	})
	logPath := tools.CtxLogPath(e.Home, ctxID)
	jujuLog, _ := os.ReadFile(logPath)
	os.Remove(logPath)
	line := fmt.Sprintf("ran juju-exec commands in %s, exit code %d", dur.Round(time.Millisecond), code)
	level := "INFO"
	if runErr != nil {
		line, level = fmt.Sprintf("juju-exec commands failed to run: %v", runErr), "ERROR"
	}
	if n := strings.Count(string(jujuLog), "\n"); n > 0 {
		line += fmt.Sprintf(", %d juju-log lines", n)
	}
	hooklog.Append(e.Home, args.Model, hooklog.Line(modelName, args.Unit, time.Now(), level, "juju.worker.uniter.operation", line))
	for _, f := range after {
		f()
	}
	return code, errors.Join(runErr, uerr)
}

// commandEvent is the hook context's event: a relation context when asked for, with its
// remote unit inferred as Juju's context factory does (worker/uniter/runner/context/
// contextfactory.go CommandContext and inferRemoteUnit).
func commandEvent(st *state.State, m *state.Model, u *state.Unit, args RunArgs) (state.Event, error) {
	ev := state.Event{Kind: "juju-exec"}
	if args.RelationID < 0 {
		if args.RemoteUnit != "" {
			return ev, fmt.Errorf("remote unit: %s, provided without a relation", args.RemoteUnit)
		}
		return ev, nil
	}
	r, side := st.RelationByID(m.UUID, u.App, args.RelationID)
	if r == nil {
		return ev, fmt.Errorf("unknown relation id: %d", args.RelationID)
	}
	ev.Rel = r.Key
	o := r.Other(side)
	var seen []string // as this unit names them
	if ru := r.Sides[side].Units[u.Name]; ru != nil {
		for _, real := range ru.Seen {
			seen = append(seen, r.RemoteName(o, real))
		}
	}
	sort.Slice(seen, func(i, j int) bool { return state.UnitLess(seen[i], seen[j]) })
	remote := args.RemoteUnit
	switch {
	case args.ForceRemoteUnit:
	case remote == "" && len(seen) == 1:
		remote = seen[0]
	case remote == "" && len(seen) == 0 && args.RemoteApp == "":
		return ev, fmt.Errorf("no remote unit found for relation id %d, override to execute commands", args.RelationID)
	case remote == "" && len(seen) > 1:
		return ev, fmt.Errorf("unable to determine remote-unit, please disambiguate from: %s", strings.Join(seen, ", "))
	case remote != "" && !contains(seen, remote):
		return ev, fmt.Errorf("unknown remote unit %s; possibilities are %v", remote, seen)
	}
	if remote != "" {
		real, ok := r.RealName(o, remote)
		if !ok {
			real = remote
		}
		ev.RemoteUnit = real
	}
	if args.RemoteApp != "" {
		if real, ok := r.RealName(o, args.RemoteApp); ok {
			ev.RemoteApp = real
		}
	}
	return ev, nil
}

// RunNoContext runs f (juju-exec --no-context) under the unit's lock only: Juju takes the
// machine lock, which serialises it with the unit's hooks, and makes no hook context.
func (e *Engine) RunNoContext(ctx context.Context, model, unit string, f func() (int, error)) (int, error) {
	if err := e.ExpireLeases(); err != nil { // as RunCommands
		return 1, err
	}
	release, err := e.lockUnitForCommands(model, unit)
	if err != nil {
		return 1, err
	}
	defer release()
	return f()
}

// exitCode turns a command's error into its exit code; a command killed by a signal or
// never started is an error (Juju drops its writes).
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee interface {
		ExitCode() int
		Exited() bool
	}
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode(), nil
	}
	return 1, err
}
