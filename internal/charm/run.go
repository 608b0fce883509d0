package charm

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/gruyaume/goops"
)

// RunHook handles one hook and returns the exit code Juju sees. Hooks the charm's
// metadata does not name are logged and succeed, since Juju adds hook kinds over time.
// A non-zero code means a genuine fault: bad input never errors a hook, it blocks the unit.
func RunHook(ctx context.Context, hook string) (code int) {
	defer recoverFault("hook "+hook, &code)
	meta, _, _, err := Definitions()
	if err != nil {
		return fault("hook "+hook, err)
	}
	if !meta.Hooks()[hook] {
		goops.LogInfof("Ignoring hook %q: not one this charm declares", hook)
		return 0
	}
	timing = startTiming()
	defer timing.log("hook " + hook)
	if err := reconcile(ctx, hook); err != nil {
		return fault("hook "+hook, err)
	}
	return 0
}

// RunAction handles one action. Actions report failure through action-fail and never
// error the unit, so the exit code is non-zero only when the hook tools themselves fail.
func RunAction(ctx context.Context, action string) (code int) {
	defer recoverFault("action "+action, &code)
	_, _, actions, err := Definitions()
	if err != nil {
		return fault("action "+action, err)
	}
	if _, ok := actions.ActionSpecs[action]; !ok {
		return actionFail("unknown action %q: this charm has no such action", action)
	}
	handler, ok := actionHandlers[action]
	if !ok {
		return actionFail("action %q is not implemented yet", action)
	}
	if err := handler(ctx); err != nil {
		return actionFail("%v", err)
	}
	return 0
}

func actionFail(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	goops.LogErrorf("%s", msg)
	if err := goops.FailActionf("%s", msg); err != nil {
		return fault("action-fail", err)
	}
	return 0
}

func fault(what string, err error) int {
	goops.LogErrorf("%s failed: %v", what, err)
	fmt.Fprintf(os.Stderr, "%s failed: %v\n", what, err)
	return 1
}

// recoverFault turns a panic into a logged hook error: a programming error must still
// leave a readable message, not a trace in the operator's face.
func recoverFault(what string, code *int) {
	if r := recover(); r != nil {
		goops.LogErrorf("%s: internal error: %v\n%s", what, r, debug.Stack())
		fmt.Fprintf(os.Stderr, "%s: internal error: %v\n", what, r)
		*code = 1
	}
}
