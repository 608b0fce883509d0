package charm

import (
	"sort"
	"testing"
)

// The action table and actions.yaml name the same actions.
func TestActionTable(t *testing.T) {
	_, _, actions, err := Definitions()
	if err != nil {
		t.Fatal(err)
	}
	for name := range actions.ActionSpecs {
		if actionHandlers[name] == nil {
			t.Errorf("action %s in actions.yaml has no handler", name)
		}
	}
	var extra []string
	for name := range actionHandlers {
		if _, ok := actions.ActionSpecs[name]; !ok {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("handlers for actions actions.yaml does not declare: %v", extra)
	}
}
