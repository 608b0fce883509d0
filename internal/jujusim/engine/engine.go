// Package engine is jujusim's controller: it turns CLI operations (deploy, integrate,
// remove-unit, ...) into state changes and per-unit hook queues, and runs the queued hooks
// inside the units' machines in Juju's order, machines at the same time.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
	"github.com/pgcharm/postgresql/internal/jujusim/machine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

// Engine runs operations against one jujusim home.
type Engine struct {
	Home  string
	Store *state.Store
	Host  Host
	// Seed, when non-zero, shuffles the interleaving of units (never a unit's own order).
	Seed int64
	// Self is the jujusim binary that the tools directory links to.
	Self string
	// Progress receives one line per hook run (nil: discarded).
	Progress io.Writer

	// Serial runs one hook at a time in the whole home (--serial, JUJUSIM_SERIAL=1, or model
	// config jujusim-serial=true in any model): a debugging aid; Juju runs the hooks of
	// different machines at the same time.
	Serial bool

	rr    string // round-robin cursor: last unit run
	rng   *rng
	mu    sync.Mutex // guards mcach: hooks of several machines run at once
	mcach map[string]Machine
}

// New opens the engine for home.
func New(home string, host Host) (*Engine, error) {
	st, err := state.Open(home)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find jujusim binary: %w", err)
	}
	return &Engine{Home: home, Store: st, Host: host, Self: self, mcach: map[string]Machine{}}, nil
}

// BridgePrefix is the prefix of this home's bridge names (unique per home, so that
// kill-controller --all of one test never touches another's).
func (e *Engine) BridgePrefix() string {
	h := fnv.New32a()
	h.Write([]byte(filepath.Clean(e.Home)))
	return fmt.Sprintf("js%08x", h.Sum32())
}

func (e *Engine) progress(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ModelRef names a model: its controller and name.
type ModelRef struct{ Controller, Model string }

func (r ModelRef) String() string { return r.Controller + ":admin/" + r.Model }

// Current returns the current controller and model.
func (e *Engine) Current() (ModelRef, error) {
	var ref ModelRef
	err := e.Store.View(func(st *state.State) error {
		var err error
		ref, err = parseCurrent(st)
		return err
	})
	return ref, err
}

func parseCurrent(st *state.State) (ModelRef, error) {
	if st.Current == "" {
		return ModelRef{}, errors.New("no controller selected: run \"jujusim bootstrap NAME\" first")
	}
	ctrl, rest, _ := strings.Cut(st.Current, ":")
	_, model, _ := strings.Cut(rest, "/")
	return ModelRef{Controller: ctrl, Model: model}, nil
}

// model resolves ref (empty fields: current) in st.
func model(st *state.State, ref ModelRef) (*state.Model, error) {
	cur, _ := parseCurrent(st)
	if ref.Controller == "" {
		ref.Controller = cur.Controller
	}
	if ref.Model == "" {
		if ref.Controller != cur.Controller {
			return nil, fmt.Errorf("no model selected on controller %q", ref.Controller)
		}
		ref.Model = cur.Model
	}
	if ref.Controller == "" {
		return nil, errors.New("no controller selected: run \"jujusim bootstrap NAME\" first")
	}
	if ref.Model == "" {
		return nil, fmt.Errorf("no model selected on controller %q: run \"jujusim add-model NAME\"", ref.Controller)
	}
	m := st.FindModel(ref.Controller, ref.Model)
	if m == nil {
		return nil, fmt.Errorf("model %q not found", ref.String())
	}
	return m, nil
}

// ResolveModel returns the UUID of a model reference.
func (e *Engine) ResolveModel(ref ModelRef) (string, error) {
	var uuid string
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		uuid = m.UUID
		return nil
	})
	return uuid, err
}

// DefaultSubnet picks a free /24 in 10.211.0.0/16 for a new controller.
func (e *Engine) defaultSubnet(st *state.State) (netip.Prefix, error) {
	used := map[string]bool{}
	for _, c := range st.Controllers {
		used[c.Subnet] = true
	}
	h := fnv.New32a()
	h.Write([]byte(e.Home))
	start := int(h.Sum32() % 200)
	for i := 0; i < 250; i++ {
		n := (start + i) % 250
		p := netip.MustParsePrefix(fmt.Sprintf("10.211.%d.0/24", n+1))
		if used[p.String()] {
			continue
		}
		if err := e.Host.CheckSubnetFree(p); err == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /24 left in 10.211.0.0/16; pass --subnet")
}

// Bootstrap creates a controller with its bridge and a "default" model, and selects it.
func (e *Engine) Bootstrap(ctx context.Context, name, subnet string) (*state.Controller, error) {
	if err := checkHome(e.Home); err != nil {
		return nil, err
	}
	var ctrl *state.Controller
	err := e.Store.Update(func(st *state.State) error {
		if st.Controllers[name] != nil {
			return fmt.Errorf("controller %q already exists", name)
		}
		var p netip.Prefix
		var err error
		if subnet == "" {
			if p, err = e.defaultSubnet(st); err != nil {
				return err
			}
		} else {
			if p, err = netip.ParsePrefix(subnet); err != nil {
				return fmt.Errorf("invalid --subnet %q: %v", subnet, err)
			}
			p = p.Masked()
			if !p.Addr().Is4() || p.Bits() > 29 {
				return fmt.Errorf("invalid --subnet %q: need an IPv4 network of at least /29", subnet)
			}
			for _, c := range st.Controllers {
				if q, _ := netip.ParsePrefix(c.Subnet); q.Overlaps(p) {
					return fmt.Errorf("subnet %s overlaps controller %q's %s", p, c.Name, c.Subnet)
				}
			}
			if err := e.Host.CheckSubnetFree(p); err != nil {
				return fmt.Errorf("cannot use subnet %s: %w", p, err)
			}
		}
		ctrl = &state.Controller{Name: name, UUID: newUUID(), Subnet: p.String(), NextHost: 2}
		used := map[string]bool{}
		for _, c := range st.Controllers {
			used[c.Bridge] = true
		}
		for n := 0; ctrl.Bridge == ""; n++ {
			if n == 100 {
				return errors.New("too many controllers in one jujusim home")
			}
			if b := fmt.Sprintf("%s%d", e.BridgePrefix(), n); !used[b] {
				ctrl.Bridge = b
			}
		}
		st.Controllers[name] = ctrl
		m := state.NewModel(newUUID(), "default", name)
		st.Models[m.UUID] = m
		st.Current = name + ":admin/default"
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Recorded for diagnostics and tests: every bridge of this home starts with it.
	_ = os.WriteFile(filepath.Join(e.Home, "bridge-prefix"), []byte(e.BridgePrefix()+"\n"), 0o644)
	host, err := e.Host.EnsureNetwork(ctx, ctrl.Bridge, netip.MustParsePrefix(ctrl.Subnet))
	if err != nil {
		_ = e.Store.Update(func(st *state.State) error {
			for id, m := range st.Models {
				if m.Controller == name {
					delete(st.Models, id)
				}
			}
			delete(st.Controllers, name)
			st.Current = ""
			return nil
		})
		return nil, fmt.Errorf("bootstrap %s: %w", name, err)
	}
	err = e.Store.Update(func(st *state.State) error {
		st.Controllers[name].HostAddr = host.String()
		return nil
	})
	if err == nil {
		if err = e.ensurePublicNetwork(ctx, name); err != nil {
			err = fmt.Errorf("bootstrap %s: public addresses: %w", name, err)
		}
	}
	_ = e.Store.View(func(st *state.State) error {
		ctrl = st.Controllers[name]
		return nil
	})
	return ctrl, err
}

// AddModel creates a model on a controller (current if empty) and selects it.
func (e *Engine) AddModel(ctrlName, name string) error {
	return e.Store.Update(func(st *state.State) error {
		if ctrlName == "" {
			cur, err := parseCurrent(st)
			if err != nil {
				return err
			}
			ctrlName = cur.Controller
		}
		if st.Controllers[ctrlName] == nil {
			return fmt.Errorf("controller %q not found", ctrlName)
		}
		if st.FindModel(ctrlName, name) != nil {
			return fmt.Errorf("model %q already exists", name)
		}
		m := state.NewModel(newUUID(), name, ctrlName)
		st.Models[m.UUID] = m
		st.Current = ctrlName + ":admin/" + name
		return nil
	})
}

// Switch selects CONTROLLER, CONTROLLER:[OWNER/]MODEL or MODEL; returns "old -> new".
func (e *Engine) Switch(target string) (string, error) {
	var msg string
	err := e.Store.Update(func(st *state.State) error {
		old := st.Current
		cur, _ := parseCurrent(st)
		var next string
		if ctrl, rest, ok := strings.Cut(target, ":"); ok {
			if st.Controllers[ctrl] == nil {
				return fmt.Errorf("controller %q not found", ctrl)
			}
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[i+1:]
			}
			if st.FindModel(ctrl, rest) == nil {
				return fmt.Errorf("model %q not found", target)
			}
			next = ctrl + ":admin/" + rest
		} else if st.Controllers[target] != nil {
			model := ""
			// Juju remembers the last model used on a controller; jujusim picks "default"
			// if present, else the first model by name.
			for _, m := range st.SortedModels() {
				if m.Controller == target && (model == "" || m.Name == "default") {
					model = m.Name
				}
			}
			next = target + ":admin/" + model
		} else {
			name := target
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			}
			if cur.Controller == "" || st.FindModel(cur.Controller, name) == nil {
				return fmt.Errorf("%q is not the name of a model or controller", target)
			}
			next = cur.Controller + ":admin/" + name
		}
		st.Current = next
		oldShow := old
		if c, r, ok := strings.Cut(old, ":"); ok && r == "admin/" {
			oldShow = c + " (controller)"
		}
		msg = oldShow + " -> " + next
		return nil
	})
	return msg, err
}

// SetModelConfig sets model config keys (egress-subnets, ...).
func (e *Engine) SetModelConfig(ref ModelRef, kv map[string]string) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		for k, v := range kv {
			if k == "egress-subnets" && v != "" {
				for _, s := range strings.Split(v, ",") {
					if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
						return fmt.Errorf("invalid egress-subnets %q: %v", v, err)
					}
				}
			}
			if v == "" {
				delete(m.Config, k)
			} else {
				m.Config[k] = v
			}
		}
		return nil
	})
}

// ModelConfig returns the model config with jujusim's defaults.
func (e *Engine) ModelConfig(ref ModelRef) (map[string]string, error) {
	res := map[string]string{}
	err := e.Store.View(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		res["name"] = m.Name
		res["uuid"] = m.UUID
		res["update-status-hook-interval"] = "5m"
		res["automatically-retry-hooks"] = "true"
		res["egress-subnets"] = ""
		res["saas-ingress-allow"] = "0.0.0.0/0,::/0"
		for k, v := range m.Config {
			res[k] = v
		}
		return nil
	})
	return res, err
}

func (e *Engine) machineDir(m *state.Model, id string) string {
	return filepath.Join(e.Home, "machines", m.UUID[:8]+"-"+id)
}

// loadMachine returns the Machine for a state machine record.
func (e *Engine) loadMachine(mc *state.Machine) (Machine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.mcach[mc.Dir]; m != nil {
		return m, nil
	}
	m, err := e.Host.Load(mc.Dir)
	if err != nil {
		return nil, err
	}
	e.mcach[mc.Dir] = m
	return m, nil
}

// cacheMachine records a machine just created; forgetMachine drops a destroyed one.
func (e *Engine) cacheMachine(dir string, m Machine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mcach[dir] = m
}

func (e *Engine) forgetMachine(dir string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mcach, dir)
}

// ToolsDir is the directory of hook-tool links put first on hooks' PATH.
func (e *Engine) ToolsDir() string { return filepath.Join(e.Home, "tools") }

// toolBinary copies the running binary under the home (which machines share) when it
// changed, since the binary itself may live in a directory that is private in machines
// (e.g. /root/go/bin).
func (e *Engine) toolBinary() (string, error) {
	dest := filepath.Join(e.Home, "bin", "jujusim")
	src, err := os.Stat(e.Self)
	if err != nil {
		return "", fmt.Errorf("stat jujusim binary: %w", err)
	}
	if d, err := os.Stat(dest); err == nil && d.Size() == src.Size() && !d.ModTime().Before(src.ModTime()) {
		return dest, nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(e.Self)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".jujusim-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return "", fmt.Errorf("copy jujusim binary: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", err
	}
	return dest, nil
}

// ensureTools (re)creates the tool links to the jujusim binary.
func (e *Engine) ensureTools() error {
	bin, err := e.toolBinary()
	if err != nil {
		return err
	}
	dir := e.ToolsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create tools dir: %w", err)
	}
	for _, name := range tools.Names() {
		p := filepath.Join(dir, name)
		if cur, err := os.Readlink(p); err == nil && cur == bin {
			continue
		}
		_ = os.Remove(p)
		if err := os.Symlink(bin, p); err != nil {
			return fmt.Errorf("link tool %s: %w", name, err)
		}
	}
	return nil
}

// checkHome refuses a home that machines cannot see (it must be shared with them).
func checkHome(home string) error {
	abs, err := filepath.Abs(home)
	if err != nil {
		return err
	}
	for _, p := range machine.PrivateDirs {
		if abs == p || strings.HasPrefix(abs, p+"/") {
			return fmt.Errorf("JUJUSIM_HOME %s lies under %s, which is private in every machine: hook tools could not reach the state; use e.g. /var/lib/jujusim or a directory under /tmp", abs, p)
		}
	}
	return nil
}

func (e *Engine) logf(m *state.Model, unit, level, module, format string, args ...any) {
	hooklog.Append(e.Home, m.UUID, hooklog.Line(m.Name, unit, time.Now(), level, module, fmt.Sprintf(format, args...)))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
