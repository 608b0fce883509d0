package charm

import (
	"github.com/pgcharm/postgresql/internal/charm/plan"
	"github.com/pgcharm/postgresql/internal/postgres"
)

// maxSynchronousStandbys bounds the synchronous_standbys option (PostgreSQL takes any
// number; more than this many copies of each commit is a typo).
const maxSynchronousStandbys = 100

// syncSettings are the settings that carry the quorum commit plan.Decide chose
// (plan.Desired.Sync).
func syncSettings(s plan.SyncPlan) postgres.Settings {
	return postgres.Settings{{Name: "synchronous_standby_names", Value: s.Names}, {Name: "synchronous_commit", Value: s.Commit}}
}
