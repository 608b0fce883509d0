package charm

import (
	"context"
	"fmt"

	"github.com/gruyaume/goops"
)

// reconcile is the one entry point every hook runs: observe everything the decision needs,
// decide without side effects, then act.
func reconcile(ctx context.Context, hook string) error {
	var cfg Config
	if err := goops.GetConfig(&cfg); err != nil {
		return fmt.Errorf("observe config: %w", err)
	}
	if ps := cfg.Problems(); len(ps) > 0 {
		return goops.SetUnitStatus(goops.StatusBlocked, ps[0].Error())
	}
	return goops.SetUnitStatus(goops.StatusWaiting, "PostgreSQL management is not implemented yet")
}
