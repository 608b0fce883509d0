// Package roles holds the desired state of a PostgreSQL role as plain data, so that the
// charm's pure decisions (plan) can say which roles a client gets without importing the
// package that talks to the server (internal/postgres.DB.EnsureRole applies a Spec).
package roles

// Spec is the desired state of a role.
type Spec struct {
	Name                                                string
	Login, Superuser, Replication, CreateDB, CreateRole bool
	// Password: empty means the role has no password (peer or cert only).
	// internal/postgres stores it as a SCRAM-SHA-256 verifier computed in the hook,
	// so the plaintext never reaches the server, its logs or pg_stat_activity.
	// Charm-generated passwords are ASCII; non-ASCII ones are refused
	// because clients normalise them (SASLprep) before hashing.
	Password string
}
