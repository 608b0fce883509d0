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
