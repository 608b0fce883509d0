// Package simtest runs jujusim from Go tests: it builds the jujusim binary once per test
// process, gives every test its own JUJUSIM_HOME and controller subnets, logs every command
// with its output, parses status and action JSON, and tears everything down
// (kill-controller --all) when the test ends. Tests skip when not run as root, since
// machines are system containers (namespaces, systemd as PID 1).
package simtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/machine"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// moduleRoot finds the directory holding go.mod above this source file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate simtest source")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", file)
		}
		dir = parent
	}
}

// Binary builds jujusim (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := ProcessDir()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "jujusim")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/jujusim")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build jujusim: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// ProcessDir is a directory that lives as long as the test process (removed by a later
// test process): for artefacts shared by several tests, such as built charms.
func ProcessDir() (string, error) {
	parent := filepath.Join(os.TempDir(), "jujusim-simtest")
	gcOnce.Do(func() { collectGarbage(parent) })
	dir := filepath.Join(parent, strconv.Itoa(os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

var gcOnce sync.Once

// collectGarbage removes binaries built by test processes that have exited.
func collectGarbage(parent string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			continue
		}
		_ = os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

// RequireRoot skips the test unless it runs as root with the tools machines need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("jujusim machines are system containers (namespaces, mounts, cgroups): this test needs root")
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("jujusim machines need %s (iproute2/util-linux): %v", tool, err)
		}
	}
}

// Sim is one test's jujusim world.
type Sim struct {
	T    testing.TB
	Bin  string
	Home string
	// Seed is passed as JUJUSIM_SEED when non-zero.
	Seed int64
	// Verbose logs every hook run (JUJUSIM_VERBOSE).
	Verbose bool
	// Serial runs one hook at a time (JUJUSIM_SERIAL=1): for tests of exact hook
	// sequences across units, which concurrent machines interleave differently.
	Serial bool

	env []string // more variables for every command (Setenv, SystemMachines)
}

// New returns a Sim with a fresh home; cleanup kills every controller it made. It skips the
// test under -short or without root.
func New(t testing.TB) *Sim {
	t.Helper()
	if testing.Short() {
		t.Skip("jujusim end-to-end test: skipped with -short")
	}
	RequireRoot(t)
	s := &Sim{T: t, Bin: Binary(t), Home: t.TempDir(), Verbose: true}
	t.Cleanup(func() {
		out, err := s.exec("kill-controller", "--all")
		if err != nil {
			t.Errorf("cleanup: jujusim kill-controller --all: %v\n%s", err, out)
		}
		if t.Failed() {
			s.DumpDebugLog()
		}
	})
	return s
}

func (s *Sim) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = append(os.Environ(), "JUJUSIM_HOME="+s.Home)
	// Tests run the binary (netcheck-dial, say) and test files inside system machines.
	if dir, err := ProcessDir(); err == nil {
		cmd.Env = append(cmd.Env, "JUJUSIM_SHARED="+dir)
	}
	cmd.Env = append(cmd.Env, s.env...)
	if s.Seed != 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("JUJUSIM_SEED=%d", s.Seed))
	}
	if s.Verbose {
		cmd.Env = append(cmd.Env, "JUJUSIM_VERBOSE=1")
	}
	if s.Serial {
		cmd.Env = append(cmd.Env, "JUJUSIM_SERIAL=1")
	}
	return cmd
}

func (s *Sim) exec(args ...string) (string, error) {
	out, err := s.command(args...).CombinedOutput()
	return string(out), err
}

// RunE runs a jujusim command and returns stdout, stderr and the error.
func (s *Sim) RunE(args ...string) (string, string, error) {
	s.T.Helper()
	cmd := s.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	s.T.Logf("$ jujusim %s  (%s)\n%s%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err
}

// Run runs a jujusim command, fails the test on error, and returns stdout.
func (s *Sim) Run(args ...string) string {
	s.T.Helper()
	out, _, err := s.RunE(args...)
	if err != nil {
		s.T.Fatalf("jujusim %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// FreeSubnet picks a random /24 in 10.100.0.0/14.. that no host interface uses.
func FreeSubnet(t testing.TB) string {
	t.Helper()
	r := rand.New(rand.NewSource(time.Now().UnixNano() + int64(os.Getpid())))
	for i := 0; i < 200; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 100+r.Intn(100), r.Intn(250)))
		if machine.CheckSubnetFree(p) == nil {
			return p.String()
		}
	}
	t.Fatal("no free /24 found for a test controller")
	return ""
}

// Bootstrap creates a controller on a fresh subnet and returns the subnet.
func (s *Sim) Bootstrap(name string) string {
	s.T.Helper()
	var lastErr error
	for i := 0; i < 3; i++ {
		subnet := FreeSubnet(s.T)
		if _, _, err := s.RunE("bootstrap", name, "--subnet", subnet); err != nil {
			lastErr = err
			continue
		}
		return subnet
	}
	s.T.Fatalf("bootstrap %s: %v", name, lastErr)
	return ""
}

// Status is the subset of `jujusim status --format=json` tests use.
type Status struct {
	Model struct {
		Name       string `json:"name"`
		Controller string `json:"controller"`
	} `json:"model"`
	Machines     map[string]MachineStatus `json:"machines"`
	Applications map[string]AppStatus     `json:"applications"`
	SAAS         map[string]SAASStatus    `json:"application-endpoints"`
	Offers       map[string]any           `json:"offers"`
}

// StatusValue is {current, message}.
type StatusValue struct {
	Current string `json:"current"`
	Message string `json:"message"`
}

// MachineStatus is one machine.
type MachineStatus struct {
	JujuStatus  StatusValue `json:"juju-status"`
	DNSName     string      `json:"dns-name"`
	IPAddresses []string    `json:"ip-addresses"`
	InstanceID  string      `json:"instance-id"`
}

// AppStatus is one application.
type AppStatus struct {
	Charm   string                `json:"charm"`
	Status  StatusValue           `json:"application-status"`
	Units   map[string]UnitStatus `json:"units"`
	Version string                `json:"version"`
}

// UnitStatus is one unit.
type UnitStatus struct {
	Workload StatusValue `json:"workload-status"`
	Agent    StatusValue `json:"juju-status"`
	Leader   bool        `json:"leader"`
	Machine  string      `json:"machine"`
	// Address is the unit's private address (its machine's first ip-address): what local
	// relations and host tests use. PublicAddress is status's public-address, the one
	// cross-model relations use.
	Address       string   `json:"-"`
	PublicAddress string   `json:"public-address"`
	OpenPorts     []string `json:"open-ports"`
}

// SAASStatus is one consumed offer.
type SAASStatus struct {
	URL string `json:"url"`
}

// Status returns the status of a model ("" = current).
func (s *Sim) Status(model string) Status {
	s.T.Helper()
	args := []string{"status", "--format=json"}
	if model != "" {
		args = append(args, "-m", model)
	}
	out := s.Run(args...)
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.T.Fatalf("parse status: %v\n%s", err, out)
	}
	for _, app := range st.Applications {
		for name, u := range app.Units {
			if ips := st.Machines[u.Machine].IPAddresses; len(ips) > 0 {
				u.Address = ips[0]
			}
			app.Units[name] = u
		}
	}
	return st
}

// Leader returns the leader unit of app in model ("" = current).
func (s *Sim) Leader(model, app string) string {
	s.T.Helper()
	for name, u := range s.Status(model).Applications[app].Units {
		if u.Leader {
			return name
		}
	}
	return ""
}

// ActionResult is `jujusim run --format=json` for one unit.
type ActionResult struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Results map[string]any `json:"results"`
	Log     []string       `json:"log"`
}

// RunAction runs an action and returns its result (a failed action is not a test failure).
func (s *Sim) RunAction(unit, action string, params ...string) ActionResult {
	s.T.Helper()
	out, _, _ := s.RunE(append([]string{"run", unit, action, "--format=json"}, params...)...)
	var res map[string]ActionResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		s.T.Fatalf("parse run output: %v\n%s", err, out)
	}
	r, ok := res[unit]
	if !ok {
		s.T.Fatalf("run output has no entry for %s: %s", unit, out)
	}
	return r
}

// Exec runs argv in a unit's machine as root and returns its stdout.
func (s *Sim) Exec(unit string, argv ...string) string {
	s.T.Helper()
	return s.Run(append([]string{"exec", unit, "--"}, argv...)...)
}

// DumpDebugLog logs the debug log (done automatically when a test fails).
func (s *Sim) DumpDebugLog() {
	out, _ := s.exec("debug-log", "--all-models")
	s.T.Logf("jujusim debug-log:\n%s", out)
}

// BuildCharm builds the Go charm at pkgDir (a directory under the module, holding main.go
// and the charm's metadata.yaml, config.yaml, actions.yaml, manifest.yaml) into a charm
// directory: dispatch is the binary, hooks/<name> link to ../dispatch.
func BuildCharm(t testing.TB, pkgDir string, hooks ...string) string {
	t.Helper()
	return BuildCharmWith(t, pkgDir, pkgDir, hooks...)
}

// BuildCharmWith is BuildCharm for a charm whose main package (mainPkg) and YAML files
// (metaDir) live apart, e.g. BuildCharmWith(t, "cmd/postgresql-charm", ".").
func BuildCharmWith(t testing.TB, mainPkg, metaDir string, hooks ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	pkg, src := abs(mainPkg), abs(metaDir)
	name := filepath.Base(pkg)
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "dispatch"), ".")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build charm %s: %v\n%s", mainPkg, err, out)
	}
	for _, f := range []string{"metadata.yaml", "config.yaml", "actions.yaml", "manifest.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(hooks) == 0 {
		hooks = []string{"install", "start", "stop", "remove", "config-changed", "update-status", "leader-elected", "leader-settings-changed", "upgrade-charm"}
	}
	for _, h := range hooks {
		if err := os.Symlink("../dispatch", filepath.Join(dir, "hooks", h)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// UnitInfo is `jujusim show-unit --format=json` for one unit.
type UnitInfo struct {
	Leader       bool           `json:"leader"`
	Machine      string         `json:"machine"`
	Address      string         `json:"public-address"` // the public address
	OpenedPorts  []string       `json:"opened-ports"`
	RelationInfo []RelationInfo `json:"relation-info"`
}

// RelationInfo is one relation of a unit, with the data its units and applications hold.
type RelationInfo struct {
	RelationID      int                    `json:"relation-id"`
	Endpoint        string                 `json:"endpoint"`
	RelatedEndpoint string                 `json:"related-endpoint"`
	ApplicationData map[string]string      `json:"application-data"`
	LocalUnit       RelUnitInfo            `json:"local-unit"`
	RelatedUnits    map[string]RelUnitInfo `json:"related-units"`
}

// RelUnitInfo is one unit's bag and scope.
type RelUnitInfo struct {
	InScope bool              `json:"in-scope"`
	Data    map[string]string `json:"data"`
}

// ShowUnit returns a unit's relation data without running a hook (model "" = current).
func (s *Sim) ShowUnit(model, unit string) UnitInfo {
	s.T.Helper()
	args := []string{"show-unit", unit, "--format=json"}
	if model != "" {
		args = append(args, "-m", model)
	}
	out := s.Run(args...)
	var res map[string]UnitInfo
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		s.T.Fatalf("parse show-unit: %v\n%s", err, out)
	}
	return res[unit]
}

// Relation returns the unit's relation on endpoint (fails the test if absent).
func (u UnitInfo) Relation(t testing.TB, endpoint string) RelationInfo {
	t.Helper()
	for _, r := range u.RelationInfo {
		if r.Endpoint == endpoint {
			return r
		}
	}
	t.Fatalf("no relation on endpoint %q in %+v", endpoint, u.RelationInfo)
	return RelationInfo{}
}
