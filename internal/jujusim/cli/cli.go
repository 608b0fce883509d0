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
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
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
	e, err := engine.New(Home(), engine.NamespaceHost{})
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
	c.args = args[1:]
	if d, err := time.ParseDuration(os.Getenv("JUJUSIM_RETRY_DELAY")); err == nil && d > 0 {
		engine.RetryDelay = d
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
	fmt.Fprintln(w, "Usage: jujusim COMMAND [options] (a local Juju substrate: machines are namespaces)")
	fmt.Fprintln(w, "Common options: --no-wait (do not run hooks), --seed N (shuffle unit interleaving), -m [CONTROLLER:]MODEL, --verbose")
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
	if c.verbose || os.Getenv("JUJUSIM_VERBOSE") != "" {
		c.e.Progress = c.stderr
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

func init() {
	reg("bootstrap", "[CLOUD] CONTROLLER [--subnet CIDR]", cmdBootstrap)
	reg("add-model", "MODEL [-c CONTROLLER]", cmdAddModel)
	reg("switch", "CONTROLLER | CONTROLLER:[OWNER/]MODEL | MODEL", cmdSwitch)
	reg("deploy", "CHARM_DIR|FILE.charm [APP] [-n N] [--storage NAME=[POOL,]SIZE] [--attach-storage ID[,ID]] [--config K=V|FILE]", cmdDeploy)
	reg("add-unit", "APP [-n N] [--attach-storage ID]", cmdAddUnit)
	reg("remove-unit", "UNIT... [--destroy-storage]", cmdRemoveUnit)
	reg("config", "APP [K=V ... | --file FILE | --reset K[,K] | K]", cmdConfig)
	reg("elect", "UNIT", cmdElect)
	reg("integrate", "APP[:EP] APP[:EP]", cmdIntegrate, "add-relation", "relate")
	reg("remove-relation", "APP[:EP] APP[:EP]", cmdRemoveRelation)
	reg("offer", "[MODEL.]APP:EP[,EP] [OFFER_NAME]", cmdOffer)
	reg("consume", "[CONTROLLER:]OWNER/MODEL.OFFER [SAAS_NAME]", cmdConsume)
	reg("run", "UNIT ACTION [K=V ...] [--format=yaml|json] [--background]", cmdRun)
	reg("run-action", "UNIT ACTION [K=V ...] [--wait] [--format=yaml|json]", cmdRunAction)
	reg("show-action-output", "ID [--format=yaml|json]", cmdShowAction, "show-task")
	reg("exec", "--unit UNIT -- CMD... | UNIT -- CMD...", cmdExec)
	reg("ssh", "UNIT|MACHINE [CMD...]", cmdSSH)
	reg("status", "[--format=tabular|json|yaml]", cmdStatus)
	reg("list-storage", "[--format=tabular|json|yaml]", cmdListStorage, "storage")
	reg("debug-log", "[--include UNIT] [-n LINES] [--all-models] [--tail]  (the current model's log, or -m MODEL; --tail follows)", cmdDebugLog)
	reg("import-filesystem", "POOL PROVIDER_ID STORAGE_NAME", cmdImportFilesystem)
	reg("destroy-model", "MODEL [--release-storage | --destroy-storage] [-y]", cmdDestroyModel)
	reg("resolve", "UNIT [--no-retry]", cmdResolve, "resolved")
	reg("wait", "[--update-status]  (run hooks to quiescence; fails if a unit is in error)", cmdWait)
	reg("run-hook", "UNIT HOOK  (queue update-status, config-changed, ... and run it)", cmdRunHook)
	reg("model-config", "[K=V ... | K]", cmdModelConfig)
	reg("kill-controller", "NAME | --all [-y]", cmdKillController)
	reg("controllers", "", cmdControllers)
	reg("remove-application", "APP [--destroy-storage]", cmdRemoveApplication, "remove-saas")
	reg("refresh", "APP --path CHARM", cmdRefresh, "upgrade-charm")
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

func cmdDeploy(c *env) error {
	var n int
	var storage, attach, config []string
	var ignored string
	c.fs.Int(&n, "n", "num-units")
	c.fs.StringList(&storage, "storage")
	c.fs.StringList(&attach, "attach-storage")
	c.fs.StringList(&config, "config")
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
	var attach []string
	c.fs.Int(&n, "n", "num-units")
	c.fs.StringList(&attach, "attach-storage")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "add-unit APP"); err != nil {
		return err
	}
	if err := c.e.AddUnit(c.ctx, c.ref(), args[0], n, splitList(attach)); err != nil {
		return err
	}
	return c.settle()
}

func cmdRemoveUnit(c *env) error {
	var destroy, force, noPrompt bool
	c.fs.Bool(&destroy, "destroy-storage")
	c.fs.Bool(&force, "force")
	c.fs.Bool(&noPrompt, "no-prompt")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "remove-unit UNIT"); err != nil {
		return err
	}
	for _, u := range args {
		if err := c.e.RemoveUnit(c.ref(), u, destroy); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "will remove unit %s\n", u)
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

func cmdIntegrate(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "integrate A B"); err != nil {
		return err
	}
	if err := c.e.Integrate(c.ref(), args[0], args[1]); err != nil {
		return err
	}
	return c.settle()
}

func cmdRemoveRelation(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "remove-relation A B"); err != nil {
		return err
	}
	if err := c.e.RemoveRelation(c.ref(), args[0], args[1]); err != nil {
		return err
	}
	return c.settle()
}

func cmdOffer(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "offer MODEL.APP:EP [NAME]"); err != nil {
		return err
	}
	name := ""
	if len(args) > 1 {
		name = args[1]
	}
	msg, err := c.e.Offer(c.ref(), args[0], name)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

func cmdConsume(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "consume URL [NAME]"); err != nil {
		return err
	}
	alias := ""
	if len(args) > 1 {
		alias = args[1]
	}
	msg, err := c.e.Consume(c.ref(), args[0], alias)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
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

func cmdImportFilesystem(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 3, 3, "import-filesystem POOL PROVIDER_ID STORAGE_NAME"); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "importing %q from storage pool %q as storage %q\n", args[1], args[0], args[2])
	id, err := c.e.ImportFilesystem(c.ref(), args[0], args[1], args[2])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "imported storage %s\n", id)
	return nil
}

func cmdDebugLog(c *env) error {
	var include []string
	var lines int
	var replay, noTail, allModels, tail bool
	c.fs.Bool(&tail, "tail")
	var level string
	c.fs.Bool(&allModels, "all-models")
	c.fs.StringList(&include, "i", "include")
	c.fs.Int(&lines, "n", "lines")
	c.fs.Bool(&replay, "replay")
	c.fs.Bool(&noTail, "no-tail")
	c.fs.String(&level, "l", "level")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 0, 0, "debug-log"); err != nil {
		return err
	}
	var paths []string
	if allModels {
		paths, _ = filepath.Glob(filepath.Join(c.e.Home, "logs", "*.log"))
	} else {
		uuid, err := c.e.ResolveModel(c.ref())
		if err != nil {
			return err
		}
		paths = []string{hooklog.Path(c.e.Home, uuid)}
	}
	var all []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		all = append(all, strings.Split(strings.TrimRight(string(data), "\n"), "\n")...)
	}
	var out []string
	for _, l := range all {
		if l == "" {
			continue
		}
		if len(include) > 0 {
			ok := false
			for _, inc := range include {
				tag := "unit-" + strings.ReplaceAll(inc, "/", "-") + ":"
				if strings.HasPrefix(l, tag) || strings.HasPrefix(l, inc+":") {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, l)
	}
	if lines > 0 && len(out) > lines {
		out = out[len(out)-lines:]
	}
	for _, l := range out {
		fmt.Fprintln(c.stdout, l)
	}
	if !tail || allModels || len(paths) != 1 {
		return nil
	}
	return follow(c, paths[0], include)
}

// follow prints lines appended to a model's log until interrupted (debug-log --tail).
func follow(c *env, path string, include []string) error {
	var off int64
	if st, err := os.Stat(path); err == nil {
		off = st.Size()
	}
	var partial string
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() <= off {
			f.Close()
			continue
		}
		buf := make([]byte, st.Size()-off)
		n, _ := f.ReadAt(buf, off)
		f.Close()
		off += int64(n)
		text := partial + string(buf[:n])
		lines := strings.Split(text, "\n")
		partial = lines[len(lines)-1]
		for _, l := range lines[:len(lines)-1] {
			if matchInclude(l, include) {
				fmt.Fprintln(c.stdout, l)
			}
		}
	}
}

func matchInclude(l string, include []string) bool {
	if len(include) == 0 {
		return true
	}
	for _, inc := range include {
		if strings.HasPrefix(l, "unit-"+strings.ReplaceAll(inc, "/", "-")+":") || strings.HasPrefix(l, inc+":") {
			return true
		}
	}
	return false
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

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func cmdRemoveApplication(c *env) error {
	var destroy, force, noPrompt bool
	c.fs.Bool(&destroy, "destroy-storage")
	c.fs.Bool(&force, "force")
	c.fs.Bool(&noPrompt, "no-prompt")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "remove-application APP"); err != nil {
		return err
	}
	for _, a := range args {
		if err := c.e.RemoveApplication(c.ref(), a, destroy); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "will remove application %s\n", a)
	}
	return c.settle()
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
