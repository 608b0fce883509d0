package charm

import "github.com/pgcharm/postgresql/internal/postgres"

// The db and db-admin relations (pgsql interface). Filled in by the relations work:
// observeClients reads every client relation into the facts, clientHBARules admits each
// client's egress subnets, and clientRelations (after the unit converged) creates users,
// databases, roles and extensions on the primary and publishes credentials on every unit.

// clientFacts is what the client relations hold, observed with the rest of the hook.
type clientFacts struct{}

func observeClients(f *jujuFacts) error { return nil }

func (r *hookRun) clientHBARules() []postgres.HBARule { return nil }

func (r *hookRun) clientRelations() error { return nil }
