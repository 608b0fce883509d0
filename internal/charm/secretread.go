package charm

import "github.com/gruyaume/goops"

// readOwnSecret reads a secret of this application (the replication password and CA, the
// client credentials) at its latest revision. Since Juju 3.1.7 owners track a revision as
// consumers do (juju#16598; apiserver/facades/agent/secretsmanager/secrets.go
// getConsumedRevision) and get no secret-changed: a plain secret-get would keep returning
// the revision the unit first read, so a unit would never see the leader's later
// secret-set (a CA added, credentials updated) and the leader would rewrite its own
// update in every hook. --refresh reads the latest and tracks it.
func readOwnSecret(id string) (map[string]string, error) {
	return goops.GetSecretByID(id, false, true)
}
