// Package tools implements Juju's hook tools (relation-get, status-set, secret-add, ...)
// against the jujusim state. The jujusim binary runs them when invoked under a tool's
// name; a hook finds its context through JUJU_CONTEXT_ID and JUJUSIM_HOME.
package tools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// call is one tool invocation.
type call struct {
	name   string
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	home   string

	st  *state.State
	hc  *state.HookContext
	m   *state.Model
	u   *state.Unit
	app *state.App

	fs  *cmdline.FlagSet
	out cmdline.Output
}

type toolFunc func(c *call) error

type toolSpec struct {
	fn       toolFunc
	writes   bool // needs the exclusive lock and a save
	noState  bool // runs without reading the state (juju-log)
	defaultF string
}

var registry = map[string]toolSpec{}

func register(name string, fn toolFunc, writes bool, defFormat string) {
	registry[name] = toolSpec{fn: fn, writes: writes, defaultF: defFormat}
}

// Names returns every hook tool name (for the tools directory symlinks).
func Names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// IsTool reports whether name is a hook tool.
func IsTool(name string) bool {
	_, ok := registry[name]
	return ok
}

// Main runs tool name with args and returns the exit code, writing "ERROR msg" on failure.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	spec, ok := registry[name]
	if !ok {
		fmt.Fprintf(stderr, "ERROR unknown hook tool %q\n", name)
		return 2
	}
	c := &call{name: name, args: args, stdin: stdin, stdout: stdout, stderr: stderr, fs: cmdline.NewFlagSet()}
	err := c.run(spec)
	if errors.Is(err, cmdline.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: %s [options]\n", name)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR %s\n", err)
		if cmdline.IsUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}

func (c *call) run(spec toolSpec) error {
	c.home = os.Getenv("JUJUSIM_HOME")
	if c.home == "" {
		c.home = "/var/lib/jujusim"
	}
	ctxID := os.Getenv("JUJU_CONTEXT_ID")
	if spec.noState {
		return spec.fn(c)
	}
	store := &state.Store{Dir: c.home}
	body := func(st *state.State) error {
		c.st = st
		c.hc = st.Contexts[ctxID]
		if c.hc == nil {
			return fmt.Errorf("bad request: unknown context %q (is this run from a jujusim hook?)", ctxID)
		}
		c.m = st.Models[c.hc.Model]
		if c.m == nil {
			return fmt.Errorf("model %s is gone", c.hc.Model)
		}
		c.u = c.m.Units[c.hc.Unit]
		if c.u == nil {
			return fmt.Errorf("unit %s is gone", c.hc.Unit)
		}
		c.app = c.m.Apps[c.u.App]
		if spec.defaultF != "" {
			c.out.Register(c.fs, spec.defaultF)
		}
		return spec.fn(c)
	}
	if spec.writes {
		return store.Update(body)
	}
	return store.View(body)
}

// parse parses the options registered on c.fs.
func (c *call) parse() error {
	return c.fs.Parse(c.args)
}

func (c *call) write(v any) error {
	return c.out.Write(c.stdout, v)
}

// keyArg takes the optional KEY argument of state-get, leader-get and relation-get: none, or
// "-", means every key (jujuc's KeyArg), and the rest is left for the caller.
func keyArg(args []string) (key string, rest []string) {
	if len(args) == 0 {
		return "", nil
	}
	if key, rest = args[0], args[1:]; key == "-" {
		key = ""
	}
	return key, rest
}

func (c *call) isLeader() bool { return c.app != nil && c.app.Leader == c.u.Name }

// parseKeyValues is juju/utils keyvalues.Parse with empty values allowed.
func parseKeyValues(src []string) (map[string]string, error) {
	res := map[string]string{}
	for _, kv := range src {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf(`expected "key=value", got %q`, kv)
		}
		if _, dup := res[k]; dup {
			return nil, fmt.Errorf("key %q specified more than once", k)
		}
		res[k] = v
	}
	return res, nil
}

// readFileArg reads a --file value ("-" is stdin).
func (c *call) readFileArg(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(c.stdin)
	}
	return os.ReadFile(path)
}

// currentRel returns the hook's relation and our side, if any.
func (c *call) currentRel() (*state.Relation, int) {
	if !c.hc.Event.InRelation() {
		return nil, -1
	}
	r := c.st.Relations[c.hc.Event.Rel]
	if r == nil {
		return nil, -1
	}
	return r, r.SideOf(c.m.UUID, c.u.App)
}

// visible reports whether the unit knows relation r (created and not broken), or r is
// the relation of the running hook.
func (c *call) visible(r *state.Relation, side int) bool {
	if c.hc.Event.InRelation() && c.hc.Event.Rel == r.Key {
		return true
	}
	ru := r.Sides[side].Units[c.u.Name]
	return ru != nil && ru.Created && !ru.Broken && !r.Sides[side].Gone
}

// relFlag registers -r/--relation, resolving against the unit's relations.
type relFlag struct {
	rel  *state.Relation
	side int
}

func (c *call) relationFlag() *relFlag {
	rf := &relFlag{side: -1}
	if r, i := c.currentRel(); r != nil {
		rf.rel, rf.side = r, i
	}
	c.fs.Func(func(v string) error {
		idText := v
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			idText = v[i+1:]
		}
		id, err := strconv.Atoi(idText)
		if err != nil {
			return errors.New("invalid relation id")
		}
		r, side := c.st.RelationByID(c.m.UUID, c.u.App, id)
		if r == nil || !c.visible(r, side) {
			return errors.New("relation not found")
		}
		rf.rel, rf.side = r, side
		return nil
	}, "r", "relation")
	return rf
}

func (rf *relFlag) need() error {
	if rf.rel == nil {
		return cmdline.Usagef("no relation id specified")
	}
	return nil
}

func (rf *relFlag) relID() string {
	s := rf.rel.Sides[rf.side]
	return state.FormatRelID(s.Endpoint, s.ID)
}

// machine returns the unit's machine.
func (c *call) machine() *state.Machine { return c.m.Machines[c.u.Machine] }

func homeDir() string {
	if h := os.Getenv("JUJUSIM_HOME"); h != "" {
		return h
	}
	return "/var/lib/jujusim"
}

func lineFor(model, unit, level, msg string) string {
	return hooklog.Line(model, unit, time.Now(), level, "unit."+unit+".juju-log", msg)
}

func appendLog(home, line string) { hooklog.Append(home, os.Getenv("JUJU_MODEL_UUID"), line) }

// CtxLogPath is where juju-log copies a hook's lines for the runner's record.
func CtxLogPath(home, ctxID string) string { return filepath.Join(home, "run", ctxID+".log") }

func appendCtxLog(home, ctxID, line string) {
	f, err := os.OpenFile(CtxLogPath(home, ctxID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line + "\n")
}
