// Package testcharm is the hook set-up the test client charms share (tests/charms/*): one
// entry point that reconciles on every hook and reports the outcome as the unit's status,
// the relations a hook should still serve, and relation writes of what changed only.
package testcharm

import (
	"fmt"
	"os"
	"strings"

	"github.com/gruyaume/goops"
)

// Run is a charm's reconcile: what the unit's status should be, or an error that fails
// the hook (and so has Juju retry it).
type Run func(unit string) (goops.StatusName, string, error)

// Main runs run for the unit of this hook and sets the status it returns; an error is
// logged to Juju's log and stderr under name and fails the hook.
func Main(name string, run Run) {
	status, msg, err := run(goops.ReadEnv().UnitName)
	if err != nil {
		goops.LogErrorf("%s: %v", name, err)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := goops.SetUnitStatus(status, msg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// RelationIDs lists the endpoint's relations this hook should still serve: in a
// relation-broken hook, Juju still lists the relation that is going, and a client that
// reconciled with it would keep (or publish) what that relation gave.
func RelationIDs(endpoint string) ([]string, error) {
	ids, err := goops.GetRelationIDs(endpoint)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(os.Getenv("JUJU_DISPATCH_PATH"), "-relation-broken") {
		return ids, nil
	}
	broken := os.Getenv("JUJU_RELATION_ID")
	var out []string
	for _, id := range ids {
		if id != broken {
			out = append(out, id)
		}
	}
	return out, nil
}

// SetChanged writes to relation id the keys of want whose values differ from have (""
// deletes a key), in this application's bag when app (the leader's) or else in this
// unit's. Nothing changed, nothing is written, so the other side gets no relation-changed.
func SetChanged(id string, app bool, have, want map[string]string) error {
	changed := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if app {
		return goops.SetAppRelationData(id, changed)
	}
	return goops.SetUnitRelationData(id, changed)
}
