package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
)

// JujuExecMain is juju-exec on a machine (/usr/bin/juju-exec links to the jujusim binary):
// it runs commands in a unit's hook context as Juju 3.6's cmd/jujud/run.go does, through
// the engine (which plays the uniter's part: engine/runcommands.go). Usage:
//
//	juju-exec [--no-context] [-r REL] [--remote-unit U] [--remote-app A] [--force-remote-unit] [--operator] [-u] UNIT COMMANDS...
//
// The commands are one shell script (several arguments are joined, quoted as needed) that
// /bin/bash -s reads on stdin in the charm directory. Their stdout and stderr are printed
// once they are done, and juju-exec exits with their code.
func JujuExecMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	req, err := parseJujuExec(args, os.Getenv)
	if errors.Is(err, cmdline.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: juju-exec [options] [-u] [<unit-name>] <commands>")
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %s\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var out, errOut bytes.Buffer
	code, err := req.run(ctx, &out, &errOut)
	stdout.Write(out.Bytes())
	stderr.Write(errOut.Bytes())
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %s\n", err)
		return 1
	}
	return code
}

type jujuExecReq struct {
	noContext bool
	unit      string
	commands  string
	args      engine.RunArgs
}

// parseJujuExec follows RunCommand.Init in Juju's cmd/jujud/run.go.
func parseJujuExec(argv []string, getenv func(string) string) (*jujuExecReq, error) {
	r := &jujuExecReq{}
	var relation, remoteUnit, remoteApp string
	var operator, force bool
	unitFlag := "-"
	fs := cmdline.NewFlagSet()
	fs.Bool(&r.noContext, "no-context")
	fs.String(&relation, "r", "relation")
	fs.String(&remoteUnit, "remote-unit")
	fs.String(&remoteApp, "remote-app")
	fs.Bool(&operator, "operator") // k8s only: machine charms run where the uniter runs
	fs.Bool(&force, "force-remote-unit")
	fs.String(&unitFlag, "u")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	args := fs.Args
	if id := getenv("JUJU_CONTEXT_ID"); id != "" {
		return nil, fmt.Errorf("juju-exec cannot be called from within a hook, have context %q", id)
	}
	if remoteApp == "" && remoteUnit != "" {
		app, _, ok := strings.Cut(remoteUnit, "/")
		if !ok || !validUnit(remoteUnit) {
			return nil, fmt.Errorf("remoteUnit %q is not a valid unit name", remoteUnit)
		}
		remoteApp = app
	}
	switch {
	case r.noContext && unitFlag != "-":
		return nil, fmt.Errorf("-no-context cannot be passed with an explicit unit-name (-u %q)", unitFlag)
	case r.noContext:
	case unitFlag == "-":
		if len(args) < 1 {
			return nil, errors.New("missing unit-name")
		}
		if u, ok := parseUnit(args[0]); ok {
			r.unit, args = u, args[1:]
		} else if u, err := onlyUnit(); err == nil {
			r.unit = u
		} else {
			return nil, fmt.Errorf("%q is not a valid tag", args[0])
		}
	case unitFlag == "":
		u, err := onlyUnit()
		if err != nil {
			return nil, err
		}
		r.unit = u
	default:
		u, ok := parseUnit(unitFlag)
		if !ok {
			return nil, fmt.Errorf("%q is not a valid unit tag", unitFlag)
		}
		r.unit = u
	}
	if len(args) < 1 {
		return nil, errors.New("missing commands")
	}
	r.commands = commandString(args)
	relID := -1
	if relation != "" {
		t := relation
		if i := strings.LastIndexByte(t, ':'); i >= 0 {
			t = t[i+1:]
		}
		id, err := strconv.Atoi(t)
		if err != nil {
			return nil, errors.New("invalid relation id")
		}
		relID = id
	}
	r.args = engine.RunArgs{Unit: r.unit, RelationID: relID, RemoteUnit: remoteUnit, RemoteApp: remoteApp, ForceRemoteUnit: force, OnMachine: true}
	return r, nil
}

var unitRe = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*/[0-9]+$`)

func validUnit(s string) bool { return unitRe.MatchString(s) }

// parseUnit accepts a unit name (app/2) or tag (unit-app-2).
func parseUnit(s string) (string, bool) {
	if validUnit(s) {
		return s, true
	}
	if rest, ok := strings.CutPrefix(s, "unit-"); ok {
		if i := strings.LastIndexByte(rest, '-'); i > 0 {
			if u := rest[:i] + "/" + rest[i+1:]; validUnit(u) {
				return u, true
			}
		}
	}
	return "", false
}

// onlyUnit is the one unit with an agent directory on this machine.
func onlyUnit() (string, error) {
	if us := engine.LocalUnits(); len(us) == 1 {
		return us[0], nil
	}
	return "", errors.New("no unit")
}

// commandString joins arguments into one command line, quoting those the shell would split
// (juju/utils CommandString); a single argument is passed as is.
func commandString(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n\"'\\$`|&;<>()*?[]{}#~!") {
			b.WriteString(a)
			continue
		}
		b.WriteString(`'` + strings.ReplaceAll(a, `'`, `'\''`) + `'`)
	}
	return b.String()
}

func (r *jujuExecReq) run(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	bash := func(ctx context.Context, env []string, dir string) (int, error) {
		cmd := exec.CommandContext(ctx, "/bin/bash", "-s")
		cmd.Env, cmd.Dir = env, dir
		cmd.Stdin = strings.NewReader(r.commands + "\n")
		cmd.Stdout, cmd.Stderr = stdout, stderr
		return runExit(cmd.Run())
	}
	if r.noContext {
		// Without a context juju-exec only takes the machine lock; a jujusim machine holds
		// one unit, whose operations that lock serialises.
		env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		if u, err := onlyUnit(); err == nil {
			conf, err := engine.ReadAgentConf(u)
			if err != nil {
				return 1, err
			}
			e, err := engine.New(conf.Home, nil)
			if err != nil {
				return 1, err
			}
			return e.RunNoContext(ctx, conf.Model, u, func() (int, error) { return bash(ctx, env, "/") })
		}
		return bash(ctx, env, "/")
	}
	conf, err := engine.ReadAgentConf(r.unit)
	if err != nil {
		return 1, err
	}
	e, err := engine.New(conf.Home, nil)
	if err != nil {
		return 1, err
	}
	r.args.Model = conf.Model
	return e.RunCommands(ctx, r.args, bash)
}

func runExit(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode(), nil
	}
	return 1, err
}
