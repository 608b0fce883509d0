package e2e

import (
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestSecretGrantEndsWithRelation: a secret granted over a relation is readable by the
// consumer, across models too, but not by an application of the same name in another
// model, and no longer once the relation is removed (secret-grant's help: "once the
// relation is removed, so too is the access grant").
func TestSecretGrantEndsWithRelation(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("add-model", "own")
	s.Run("deploy", ch, "rec")
	s.Run("add-model", "far")
	s.Run("deploy", "-m", "ctl:far", ch, "cli")
	s.Run("add-model", "other")
	s.Run("deploy", "-m", "ctl:other", ch, "cli")
	s.Run("offer", "far.cli:backend", "cli-backend")
	s.Run("consume", "-m", "ctl:own", "ctl:admin/far.cli-backend")
	s.Run("integrate", "-m", "ctl:own", "rec:db", "cli-backend:backend")
	id := s.ShowUnit("ctl:far", "cli/0").Relation(t, "backend").ApplicationData["secret-id"]
	if id == "" {
		t.Fatal("rec shared no secret")
	}
	get := func(model string) (string, error) {
		out, errOut, err := s.RunE("exec", "-m", model, "cli/0", "--", "secret-get", id, "password")
		return strings.TrimSpace(out + errOut), err
	}
	if out, err := get("ctl:far"); err != nil || out != "s3cret" {
		t.Fatalf("the consumer across models: %q %v", out, err)
	}
	if out, err := get("ctl:other"); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("an unrelated application of the same name read the secret: %q %v", out, err)
	}
	s.Run("remove-relation", "-m", "ctl:own", "rec:db", "cli-backend:backend")
	if out, err := get("ctl:far"); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("the consumer read the secret after the relation was removed: %q %v", out, err)
	}
}
