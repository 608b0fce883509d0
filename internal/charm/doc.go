// Package charm holds the charm's hook and action handlers. Every hook and every action
// runs one pipeline: observe, decide, apply.
//
// Hooks (run.go RunHook, then reconcile in apply.go):
//
//   - observe (observe.go) gathers everything the decision reads into one plan.Observed and
//     writes nothing: Juju's facts (observe_juju.go), the local server (observe_local.go),
//     the application secret, the client relations' requests (clients.go, database.go),
//     the failover agent's probes (failover.go) and, only when the leader must choose a
//     successor, its peers' positions. Beside it, means carries what apply acts with and
//     the decision never reads: the cluster handle, the secret's content, the options.
//   - plan.Decide (plan/decide.go) decides, purely: the primary, the application and unit
//     bags, the local step, the settings and pg_hba, the clients to provision, archiving,
//     and the findings the status is made of.
//   - apply (apply.go) acts on the decision and decides again after each thing it did. Its
//     run lists every effect in the order it happens; each lives in one file: the local
//     steps (create, start, clone, follow, rewind, promote) and the settled primary's
//     roles and slots in apply_steps.go, the server's configuration in apply_configure.go
//     (its certificate in tls.go), the client relations in clients.go and database.go,
//     archiving in archiving.go, kept old data in olddata.go, the failover agent in
//     apply_agent.go.
//
// "Why is my unit blocked?" has one answer: plan.UnitStatus (plan/status.go) of the final
// decision's findings, with what only acting found out (applying.status in apply.go).
//
// Actions (run.go RunAction, the table in actions.go) take the same shape: observeAction
// gathers what the action decides on, one pure function of plan/actions.go decides whether
// this unit may run it and on what (refusing bad parameters before anything changes), and
// the handler acts: actions.go (get-primary, replication-pause and -resume,
// remove-old-data), actions_switchover.go, actions_archive.go (the wal-e-* actions) and
// restoremarker.go (wal-e-restore-undo). An action that changes what hooks decide on ends
// by running reconcile, as the hook its change wakes would.
//
// Hook tools go through hooktools.go, which keeps secrets out of argv.
package charm
