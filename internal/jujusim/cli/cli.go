// Package cli is the jujusim command line: juju's verbs (3.x names, 2.x aliases) over the
// engine, each running the hooks it causes to quiescence unless --no-wait.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
)

// env is one CLI invocation.
type env struct {
	ctx    context.Context
	e      *engine.Engine
	fs     *cmdline.FlagSet
	args   []string
	stdout io.Writer
	stderr io.Writer
	stdin  *os.File

	noWait  bool
	serial  bool
	seed    int64
	modelF  string
	verbose bool
}

type command struct {
	run     func(c *env) error
	usage   string
	aliases []string
}

var commands = map[string]*command{}

func reg(name, usage string, run func(c *env) error, aliases ...string) {
	cmd := &command{run: run, usage: usage, aliases: aliases}
	commands[name] = cmd
	for _, a := range aliases {
		commands[a] = cmd
	}
}

// Home is the jujusim home: $JUJUSIM_HOME or /var/lib/jujusim.
func Home() string {
	if h := os.Getenv("JUJUSIM_HOME"); h != "" {
		return h
	}
	return "/var/lib/jujusim"
}

// errSilent fails a command that has already said why on stderr (juju's cmd.ErrSilent).
var errSilent = errors.New("silent error")

// Main runs the CLI and returns the exit code.
func Main(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(stdout)
		return 0
	}
	cmd := commands[args[0]]
	if cmd == nil {
		fmt.Fprintf(stderr, "ERROR unrecognized command: jujusim %s\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := engine.New(Home(), engine.DefaultHost(Home()))
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		return 1
	}
	c := &env{ctx: ctx, e: e, fs: cmdline.NewFlagSet(), stdout: stdout, stderr: stderr, stdin: stdin}
	c.fs.Bool(&c.noWait, "no-wait")
	c.fs.Func(func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		c.seed = n
		return err
	}, "seed")
	c.fs.String(&c.modelF, "m", "model")
	c.fs.Bool(&c.verbose, "verbose")
	c.fs.Bool(&c.serial, "serial")
	c.args = args[1:]
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_RETRY_DELAY")); err == nil && d > 0 {
		engine.RetryDelay = d
	}
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_RETRY_WAIT")); err == nil && d >= 0 {
		engine.RetryWait = d
	}
	if n, err := strconv.Atoi(os.Getenv("JUJUSIM_MAX_HOOKS")); err == nil && n > 0 {
		engine.MaxHooks = n
	}
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_HOOK_TIMEOUT")); err == nil && d > 0 {
		engine.HookTimeout = d
	}
	if s := os.Getenv("JUJUSIM_SEED"); s != "" {
		c.seed, _ = strconv.ParseInt(s, 10, 64)
	}
	err = cmd.run(c)
	if errors.Is(err, cmdline.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: jujusim %s %s\n", args[0], cmd.usage)
		return 0
	}
	if errors.Is(err, errSilent) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %v\n", err)
		if cmdline.IsUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: jujusim COMMAND [options] (a local Juju substrate: machines are system containers with systemd)")
	fmt.Fprintln(w, "Common options: --no-wait (do not run hooks), --seed N (seeded hook start delays and interleaving), --serial (one hook at a time), -m [CONTROLLER:]MODEL, --verbose")
	var names []string
	seen := map[*command]bool{}
	for n, c := range commands {
		if !seen[c] && !contains(c.aliases, n) {
			names = append(names, n)
			seen[c] = true
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		al := ""
		if len(c.aliases) > 0 {
			al = "  (alias " + strings.Join(c.aliases, ", ") + ")"
		}
		fmt.Fprintf(w, "  %s %s%s\n", n, c.usage, al)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// parse parses options; positional args are returned.
func (c *env) parse() ([]string, error) {
	if err := c.fs.Parse(c.args); err != nil {
		return nil, err
	}
	c.e.Seed = c.seed
	c.e.Serial = c.serial || os.Getenv("JUJUSIM_SERIAL") == "1"
	if c.verbose || os.Getenv("JUJUSIM_VERBOSE") != "" {
		c.e.Progress = c.stderr
	}
	// No controller process keeps time: every command lets lapsed leases expire
	// (engine.ExpireLeases), status and wait included.
	if err := c.e.ExpireLeases(); err != nil {
		return nil, err
	}
	return c.fs.Args, nil
}

func (c *env) ref() engine.ModelRef {
	if c.modelF == "" {
		return engine.ModelRef{}
	}
	if ctrl, m, ok := strings.Cut(c.modelF, ":"); ok {
		if i := strings.IndexByte(m, '/'); i >= 0 {
			m = m[i+1:]
		}
		return engine.ModelRef{Controller: ctrl, Model: m}
	}
	m := c.modelF
	if i := strings.IndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return engine.ModelRef{Model: m}
}

// settle runs hooks unless --no-wait.
func (c *env) settle() error {
	if c.noWait {
		return nil
	}
	return c.e.Settle(c.ctx)
}

func nargs(args []string, min, max int, usage string) error {
	if len(args) < min {
		return cmdline.Usagef("missing arguments: %s", usage)
	}
	if max >= 0 && len(args) > max {
		return cmdline.Usagef("unrecognized args: %q", args[max:])
	}
	return nil
}

func kvArgs(args []string) (map[string]string, error) {
	res := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, cmdline.Usagef("expected \"key=value\", got %q", a)
		}
		res[k] = v
	}
	return res, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
