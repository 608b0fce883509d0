package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/machine"
)

// AgentConf is what a unit's agent directory on its machine tells juju-exec: where the
// controller (the jujusim home) is and which model the unit is in. Juju keeps the same
// facts in the unit's agent.conf.
type AgentConf struct {
	Home  string `json:"home"`
	Model string `json:"model"` // UUID
	Unit  string `json:"unit"`
}

// AgentConfFile is the file in the agent directory.
const AgentConfFile = "jujusim-agent.json"

// JujuExecPath is where Juju 3 machines have juju-exec (a link to jujud); the jujusim
// binary is juju-exec when invoked under that name.
const JujuExecPath = "/usr/bin/juju-exec"

// installAgent writes the unit's agent conf into its machine and links juju-exec to the
// tools' binary (system machines only: namespace machines share the host's /usr).
func (e *Engine) installAgent(ctx context.Context, mach Machine, model, unit string) error {
	home, err := filepath.Abs(e.Home)
	if err != nil {
		return err
	}
	conf, err := json.Marshal(AgentConf{Home: home, Model: model, Unit: unit})
	if err != nil {
		return err
	}
	script := `set -e; mkdir -p "$1"; printf '%s\n' "$2" > "$1/` + AgentConfFile + `"`
	if _, ok := mach.(*machine.System); ok {
		script += `; ln -sfn "$3" ` + JujuExecPath
	}
	out, err := mach.Command(ctx, "/bin/sh", "-c", script, "sh", AgentDir(unit), string(conf), filepath.Join(home, "bin", "jujusim")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ReadAgentConf reads a unit's agent conf on the machine juju-exec runs on; a unit without
// an agent directory here is not on this machine.
func ReadAgentConf(unit string) (AgentConf, error) {
	var c AgentConf
	data, err := os.ReadFile(filepath.Join(AgentDir(unit), AgentConfFile))
	if os.IsNotExist(err) {
		return c, fmt.Errorf("unit %q not found on this machine", unit)
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("read agent conf of %s: %w", unit, err)
	}
	return c, nil
}

// LocalUnits lists the units with an agent directory on this machine (juju-exec infers
// the unit when there is exactly one).
func LocalUnits() []string {
	ents, _ := os.ReadDir("/var/lib/juju/agents")
	var units []string
	for _, ent := range ents {
		name, ok := strings.CutPrefix(ent.Name(), "unit-")
		if !ok || !ent.IsDir() {
			continue
		}
		if c, err := ReadAgentConfDir(filepath.Join("/var/lib/juju/agents", ent.Name())); err == nil {
			units = append(units, c.Unit)
		} else if i := strings.LastIndexByte(name, '-'); i > 0 {
			units = append(units, name[:i]+"/"+name[i+1:])
		}
	}
	return units
}

// ReadAgentConfDir reads the agent conf in an agent directory.
func ReadAgentConfDir(dir string) (AgentConf, error) {
	var c AgentConf
	data, err := os.ReadFile(filepath.Join(dir, AgentConfFile))
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(data, &c)
}
