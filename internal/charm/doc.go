// Package charm holds the charm's hook and action handlers. Every hook and every action
// runs one pipeline: observe, decide, apply.
//
// Hooks (run.go RunHook, then reconcile in apply.go):
//
//   - observe (observe.go) gathers what the decision reads into one plan.Observed and
//     writes nothing: Juju's facts (observe_juju.go, with the unit's addresses from tls.go
//     observeTLS), the options (observeOptions; config.go judges them), the local server
//     (observe_local.go, observeServer), who owns each requested client database
//     (isolation.go observeClaims), the application secret, the client relations' requests
//     (clients.go, database.go), the failover agent's probes (failover.go) and, only when
//     the leader must choose a successor, its peers' positions (measurePeers). Beside it,
//     means carries what apply acts with and the decision never reads: the cluster handle,
//     the secret's content, the options.
//     What depends on the server as the steps leave it is observed again inside apply,
//     also writing nothing: observeServer after every step, then, once the steps are done
//     (applying.run), the archive's check (archiving.go observeArchive), the kept old data
//     (olddata.go observeOldData) and what the server holds for the client requests
//     (clients.go observeClientServer, database.go observeDatabaseServer).
//   - plan.Decide (plan/decide.go) decides, purely: the primary, the application bag (and
//     the bag of a unit that tears down), the local step, the settings and pg_hba, the
//     clients to provision, archiving, and the findings the status is made of. "Am I
//     primary" is plan.IsPrimary (plan/local.go), which Decide puts in Desired.IsPrimary
//     for every stage that acts only on the primary.
//   - apply (apply.go) acts on the decision and decides again after each thing it did:
//     setup, the application secret, the leader's writes, the step loop (converge) and the
//     unit's report to its peers (publish: its local facts, localFacts.report, with what
//     apply did). applying.run lists every effect in the order it happens; each lives in
//     one file: the local steps (create, start, promote, stop, clone, follow, rewind) and
//     the settled primary's roles and slots in apply_steps.go, the server's configuration
//     in apply_configure.go (its certificate in tls.go), the client relations in clients.go
//     and database.go, archiving in archiving.go, kept old data in olddata.go, the failover
//     agent in apply_agent.go.
//
// "Why is my unit blocked?" has one answer: plan.UnitStatus (plan/status.go) of the final
// decision's findings, with what only acting found out (applying.status in apply.go);
// reconcile sets it as the hook's last act. The only other status-set calls are
// maintenance messages while a step runs (converge, before each step, the step's own
// message from plan.DecideLocal; ensurePackages; applying.settled's restart), which the
// hook's final status replaces.
//
// Actions (run.go RunAction, the table actionHandlers in actions.go) take the same shape:
// observeAction gathers what the action decides on, a pure function of plan (mostly
// plan/actions.go) decides whether this unit may run it and on what (refusing bad
// parameters before anything changes), and the handler acts: actions.go (get-primary,
// replication-pause and -resume, remove-old-data), actions_switchover.go,
// actions_archive.go (the wal-e-* actions) and restoremarker.go (wal-e-restore-undo).
// wal-e-list-backups and wal-e-verify only read an archive and decide nothing;
// wal-e-restore-undo decides from the restore marker itself. An action that changes what
// hooks decide on ends by running reconcile, as the hook its change wakes would.
//
// Beside the pipeline: hook tools go through hooktools.go, which keeps secrets out of
// argv; meta.go parses the charm's embedded metadata, config and actions; paths.go holds
// root's link-safe path helpers (a restore's tablespaces); timing.go splits a hook's time.
package charm
