package charm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/agent"
	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/charm/plan"
)

// agentService is the failover agent's systemd unit, one per unit (a machine may host
// units of several applications).
func agentService(unit string) string {
	return "postgresql-charm-agent-" + strings.ReplaceAll(unit, "/", "-") + ".service"
}

const systemdDir = "/etc/systemd/system"

// agentUnitFile runs the charm's binary as root (it reads the replication password and
// stops its own server when fencing), restarted whenever it ends.
func agentUnitFile(unit, bin string) string {
	return fmt.Sprintf(`# Written by the PostgreSQL charm for %s: the failover agent (README, Failover).
[Unit]
Description=PostgreSQL charm failover agent for %s
After=network-online.target

[Service]
Type=simple
ExecStart=%s agent
Restart=always
RestartSec=1
User=root

[Install]
WantedBy=multi-user.target
`, unit, unit, bin)
}

// ensureAgent installs or updates the agent and tells it the application as this hook
// sees it: every unit's address, the recorded primary, the credentials to probe with and
// how to wake the charm. The service is enabled and started; it is restarted when its
// binary or unit file changed (a charm upgrade).
func (r *applying) ensureAgent() error {
	if r.local == nil || r.local.Cluster == nil || r.password == "" || r.ca == nil {
		return nil
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		// Not booted with systemd (a namespace machine in tests): no service to run.
		return nil
	}
	stamp, binChanged, err := agentBinaryChanged()
	if err != nil {
		return err
	}
	if binChanged {
		// Copied when it differs; archiving may have copied it already in this hook,
		// and the agent still runs the old one either way.
		if err := installCharmTools(); err != nil {
			return err
		}
	}
	units, members := map[string]string{}, []string{r.Unit}
	if r.Address != "" {
		units[r.Unit] = r.Address
	}
	for name, data := range r.Peers {
		rep, _ := plan.ParseUnitReport(name, data)
		if rep.Address != "" {
			units[name] = rep.Address
		}
		if rep.Role != plan.RoleNone {
			members = append(members, name)
		}
	}
	sort.Strings(members)
	cfg := agent.Config{Unit: r.Unit, Primary: r.AppBag.Primary, Units: units, Members: members, Password: r.password,
		CA: string(r.ca.CertPEM), Timeout: r.config.FailoverTimeout,
		Cluster: *r.local.Cluster,
		Wake:    []string{"juju-exec", "-u", r.Unit, "JUJU_DISPATCH_PATH=hooks/update-status ./dispatch"}}
	if _, err := agent.WriteConfig(agent.ConfigPath, cfg); err != nil {
		return fmt.Errorf("agent configuration: %w", err)
	}
	name := agentService(r.Unit)
	unitChanged, err := atomicfile.WriteIfChanged(filepath.Join(systemdDir, name), []byte(agentUnitFile(r.Unit, charmToolsBin)), 0o644, nil)
	if err != nil {
		return fmt.Errorf("agent service: %w", err)
	}
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	switch {
	case unitChanged:
		if err := systemctl(ctx, "daemon-reload"); err != nil {
			return err
		}
		if err := systemctl(ctx, "enable", name); err != nil {
			return err
		}
		goops.LogInfof("agent: starting %s", name)
		if err := systemctl(ctx, "restart", name); err != nil {
			return err
		}
		return goops.SetState(stateAgentBinary, stamp)
	case binChanged:
		goops.LogInfof("agent: restarting %s on its new binary", name)
		if err := systemctl(ctx, "restart", name); err != nil {
			return err
		}
		return goops.SetState(stateAgentBinary, stamp)
	}
	// Started again if it was stopped (by an operator, or a failed start).
	return systemctl(ctx, "start", name)
}

// agentBinaryChanged says whether this binary (its size and time: a charm upgrade
// replaces it) differs from the one the agent was last started on.
func agentBinaryChanged() (string, bool, error) {
	self, err := os.Executable()
	if err != nil {
		return "", false, err
	}
	fi, err := os.Stat(self)
	if err != nil {
		return "", false, err
	}
	stamp := fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
	if v, _ := goops.GetState(stateAgentBinary); v == stamp {
		if _, err := os.Stat(charmToolsBin); err == nil {
			return stamp, false, nil
		}
	}
	return stamp, true, nil
}

const stateAgentBinary = "agent-binary"

// removeAgent stops and removes the agent when the unit goes away.
func removeAgent(ctx context.Context, unit string) error {
	name := agentService(unit)
	path := filepath.Join(systemdDir, name)
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	_ = systemctl(ctx, "disable", "--now", name)
	if err := os.Remove(path); err != nil {
		return err
	}
	_ = os.Remove(agent.ConfigPath)
	return systemctl(ctx, "daemon-reload")
}

func systemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
