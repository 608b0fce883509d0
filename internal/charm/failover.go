package charm

import (
	"fmt"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/agent"
	"github.com/pgcharm/postgresql/internal/charm/plan"
)

// reportFresh is how old the agent's report may be for the leader to judge a failover on
// it: an agent that stopped writing (it died, or is being upgraded) says nothing current,
// and no failover is ever started on stale observations.
const reportFresh = 5 * time.Second

// observeAgent reads what the local agent saw: the leader's failover decision
// (plan.DecideFailover) takes its probes, and every unit whether it reaches a majority
// (plan.Observed.Isolated).
func observeAgent(o *plan.Observed, cfg Config) {
	o.FailoverTimeout = cfg.failoverTimeout()
	if o.FailoverTimeout <= 0 {
		return
	}
	rep, probes := agentProbes(time.Now())
	if probes == nil {
		return
	}
	o.Isolated = !rep.Majority
	if o.Leader {
		o.Probes = probes
	}
}

// logFailover says what the leader's failover decision changed in the application bag.
func logFailover(was, now plan.AppState) {
	switch {
	case now.Failover != "" && now.Failover != was.Failover:
		goops.LogWarningf("failover: %s failed (unreachable for failover_timeout, no standby streaming from it); promoting %s", now.Failed, now.Failover)
	case was.Failover != "" && now.Failover == "":
		goops.LogInfof("failover: %s serves as primary", was.Failover)
	}
	if was.Failed != "" && now.Failed == "" {
		goops.LogInfof("failover: %s follows the primary again; its failed mark goes", was.Failed)
	}
}

// agentProbes reads the local agent's report and its views as the plan's probes; nil
// probes when there is no fresh report.
func agentProbes(now time.Time) (agent.Report, map[string]plan.Probe) {
	rep, err := agent.ReadReport(agent.ReportPath)
	if err != nil || now.Sub(rep.Time) > reportFresh || rep.Time.After(now.Add(reportFresh)) {
		return rep, nil
	}
	out := map[string]plan.Probe{}
	for name, v := range rep.Units {
		p := plan.Probe{Reachable: v.Reachable, InRecovery: v.InRecovery, Timeline: v.Timeline, Flushed: v.Flushed,
			Replayed: v.Replayed, Streaming: v.Streaming, SyncNames: v.SyncNames, SeenPrimary: v.SeenPrimary}
		if !v.Reachable && !v.DownSince.IsZero() {
			p.Down = now.Sub(v.DownSince)
		}
		out[name] = p
	}
	return rep, out
}

// failoverTimeout is the failover_timeout option; 0 turns automatic failover off.
func (c Config) failoverTimeout() time.Duration {
	return time.Duration(c.FailoverTimeout) * time.Second
}

// failoverProblem checks the failover_timeout option.
func failoverProblem(t int) string {
	if t != 0 && (t < 3 || t > 3600) {
		return fmt.Sprintf("%d is out of range: use 0 (no automatic failover) or 3 to 3600 seconds", t)
	}
	return ""
}
