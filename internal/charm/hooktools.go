package charm

import (
	"encoding/json"
	"os"
	"strings"

	"github.com/gruyaume/goops"
)

// Hook tools that carry secrets (relation-set with passwords, secret-add, secret-set) take
// their data from a file here, never from argv where any local user could read it in
// /proc. The file is private to root and removed at once. goops covers the other tools.

func withPrivateFile(data map[string]string, f func(path string) error) error {
	tmp, err := os.CreateTemp("", "charm-data-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := json.NewEncoder(tmp).Encode(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return f(tmp.Name())
}

// hookTool runs a hook tool goops has no function for, or one that must take --file,
// through goops' command runner: the same path (and the same timing, timing.go) as every
// other hook tool.
func hookTool(name string, args ...string) ([]byte, error) {
	return goops.GetCommandRunner().Run(name, args...)
}

// relationSet writes a relation bag; empty values delete keys, as Juju's relation-set does.
func relationSet(relationID string, app bool, data map[string]string) error {
	return withPrivateFile(data, func(path string) error {
		args := []string{"-r", relationID, "--file", path}
		if app {
			args = append(args, "--app")
		}
		_, err := hookTool("relation-set", args...)
		return err
	})
}

// secretAdd creates an application-owned secret and returns its URI.
func secretAdd(label string, data map[string]string) (string, error) {
	var id string
	err := withPrivateFile(data, func(path string) error {
		out, err := hookTool("secret-add", "--owner", "application", "--label", label, "--file", path)
		id = strings.TrimSpace(string(out))
		return err
	})
	return id, err
}

// secretAddDescribed creates an application-owned secret without a label (labels are
// unique per owner and would outlive a failed removal) and returns its URI.
func secretAddDescribed(description string, data map[string]string) (string, error) {
	var id string
	err := withPrivateFile(data, func(path string) error {
		out, err := hookTool("secret-add", "--owner", "application", "--description", description, "--file", path)
		id = strings.TrimSpace(string(out))
		return err
	})
	return id, err
}

// secretSetContent writes a new revision of a secret, its content through a file.
func secretSetContent(uri string, data map[string]string) error {
	return withPrivateFile(data, func(path string) error {
		_, err := hookTool("secret-set", uri, "--file", path)
		return err
	})
}

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
