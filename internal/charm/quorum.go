package charm

import (
	"context"
	"fmt"

	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// maxSynchronousStandbys bounds the synchronous_standbys option (PostgreSQL takes any
// number; more than this many copies of each commit is a typo).
const maxSynchronousStandbys = 100

// quorum decides this unit's quorum commit (plan.DecideSync) and returns the settings that
// carry it. Only the chosen primary waits for standbys; on any other unit both settings are
// the defaults, and a promoted standby takes them in the configure after its promotion.
// Healthy standbys are those streaming from the running server (db; nil while it is
// stopped) now: one that is catching up, stopped or cut off commits nothing. The unit's
// agent wakes the charm when that set changes, so the list follows it within a second.
func (r *hookRun) quorum(ctx context.Context, db *postgres.DB) (postgres.Settings, error) {
	r.sync = plan.SyncPlan{}
	if r.app.Primary != r.j.Unit {
		names := ""
		if r.local.Running && !r.local.Standby && r.j.Config.SynchronousStandbys > 0 {
			// A primary that is no longer the chosen one (it steps down, or comes back
			// after a failover) must never release commits the new primary lacks:
			// only its own standbys, if any still stream from it, acknowledge them.
			names = fmt.Sprintf("ANY %d (*)", r.j.Config.SynchronousStandbys)
		}
		return postgres.Settings{{Name: "synchronous_standby_names", Value: names}, {Name: "synchronous_commit", Value: "on"}}, nil
	}
	f := plan.SyncFacts{Quorum: r.j.Config.SynchronousStandbys, Strict: r.j.Config.SynchronousStrict}
	for name := range r.j.Peers {
		f.Members = append(f.Members, name)
	}
	if db != nil && r.local.Running && !r.local.Standby {
		stats, err := db.Replication(ctx)
		if err != nil {
			return nil, fmt.Errorf("quorum commit: %w", err)
		}
		for _, s := range stats {
			if _, peer := r.j.Peers[s.ApplicationName]; peer && s.State == "streaming" {
				f.Healthy = append(f.Healthy, s.ApplicationName)
			}
		}
	}
	r.sync = plan.DecideSync(f)
	return postgres.Settings{{Name: "synchronous_standby_names", Value: r.sync.Names}, {Name: "synchronous_commit", Value: r.sync.Commit}}, nil
}
