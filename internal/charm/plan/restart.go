package plan

import "sort"

// GrantRestart decides which unit may restart now. Restarts across the application go one
// unit at a time so that clients always find a server; standbys go before the primary so
// the primary restarts last, once its standbys run the new settings. The holder keeps the
// lock until it stops asking (it releases by clearing its request).
func GrantRestart(holder string, requests map[string]bool, present map[string]bool, primary string) string {
	if holder != "" && requests[holder] && present[holder] {
		return holder
	}
	var waiting []string
	for u, asked := range requests {
		if asked && present[u] {
			waiting = append(waiting, u)
		}
	}
	if len(waiting) == 0 {
		return ""
	}
	sort.Slice(waiting, func(i, j int) bool {
		a, b := waiting[i], waiting[j]
		if (a == primary) != (b == primary) {
			return b == primary
		}
		return UnitNumber(a) < UnitNumber(b)
	})
	return waiting[0]
}

// StandbysBehind says a running standby has not yet written the settings the primary's
// were written from (UnitReport.Applied): its config-changed is still on its way. The
// primary's restart request then waits, so that under concurrent hooks the standbys ask,
// restart and release first and the primary still goes last. A standby the leader's agent
// finds unreachable is not waited for; one that never answers again would be (its report
// says standby), and the primary's status says it waits for permission to restart.
func StandbysBehind(primary string, reports map[string]UnitReport, probes map[string]Probe) bool {
	p, ok := reports[primary]
	if !ok {
		return false
	}
	for name, r := range reports {
		if name == primary || r.Role != RoleStandby {
			continue
		}
		if pr, seen := probes[name]; seen && !pr.Reachable {
			continue
		}
		if r.Applied != p.Applied {
			return true
		}
	}
	return false
}
