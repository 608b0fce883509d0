package e2e

import (
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestSecrets checks an application-owned secret granted over a relation: the consumer
// reads it, and a new revision reaches it through secret-changed.
func TestSecrets(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2")
	s.Run("deploy", ch, "cli")
	s.Run("integrate", "rec:db", "cli:backend")
	var shared, read bool
	for _, r := range records(t, s, "", "rec/0") {
		if r.Hook == "db-relation-joined" && len(r.Secret) > 7 && r.Secret[:7] == "shared " {
			shared = true
		}
	}
	for _, r := range records(t, s, "", "cli/0") {
		if r.Hook == "backend-relation-changed" && r.Secret != "" {
			if r.Secret != "s3cret" {
				t.Errorf("consumer read %q", r.Secret)
			}
			read = true
		}
	}
	if !shared || !read {
		t.Fatalf("secret not shared (%v) or not read (%v)", shared, read)
	}
	if res := s.RunAction("rec/0", "rotate"); res.Status != "completed" {
		t.Fatalf("rotate: %+v", res)
	}
	recs := records(t, s, "", "cli/0")
	last := recs[len(recs)-1]
	if last.Hook != "secret-changed" || last.Secret != "rotated" || last.Env["JUJU_SECRET_ID"] == "" {
		t.Errorf("after rotate cli/0 ran %s secret=%q env=%v", last.Hook, last.Secret, last.Env["JUJU_SECRET_ID"])
	}
	for _, r := range records(t, s, "", "rec/1") {
		if r.Hook == "secret-changed" {
			t.Errorf("the owner application never gets secret-changed")
		}
	}
}
