package e2e

import (
	"strings"
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
	var id string
	for _, r := range records(t, s, "", "rec/0") {
		if r.Hook == "db-relation-joined" && len(r.Secret) > 7 && r.Secret[:7] == "shared " {
			shared, id = true, r.Secret[7:]
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
	// The owner tracks a revision as consumers do (Juju >= 3.1.7, juju#16598;
	// apiserver/facades/agent/secretsmanager/secrets.go getConsumedRevision).
	ownerGet := func(unit string, args ...string) string {
		t.Helper()
		return strings.TrimSpace(s.Run(append([]string{"exec", unit, "--", "secret-get", id, "password"}, args...)...))
	}
	if got := ownerGet("rec/0"); got != "s3cret" {
		t.Errorf("owner's first read: %q", got)
	}
	if res := s.RunAction("rec/0", "rotate"); res.Status != "completed" {
		t.Fatalf("rotate: %+v", res)
	}
	for _, c := range []struct{ args, want string }{
		{"", "s3cret"}, {"--peek", "rotated"}, {"", "s3cret"}, {"--refresh", "rotated"}, {"", "rotated"},
	} {
		if got := ownerGet("rec/0", strings.Fields(c.args)...); got != c.want {
			t.Errorf("owner's secret-get %s after a new revision: %q, want %q", c.args, got, c.want)
		}
	}
	// Its own secret-set in the same hook: a plain read gives the tracked revision, --refresh
	// the new content (worker/uniter/runner/context/context.go getPendingSecretValue), which
	// it tracks once the hook commits.
	if got := s.Run("exec", "rec/0", "--", "sh", "-c", "secret-set "+id+" password=third && secret-get "+id+" password && secret-get "+id+" password --refresh"); got != "rotated\nthird\n" {
		t.Errorf("owner's reads around its own secret-set: %q", got)
	}
	if got := ownerGet("rec/0"); got != "third" {
		t.Errorf("owner's read after --refresh of its own secret-set: %q", got)
	}
	if got := ownerGet("rec/1"); got != "third" {
		t.Errorf("another unit of the owner's first read: %q", got)
	}
	if res := s.RunAction("rec/0", "rotate"); res.Status != "completed" {
		t.Fatalf("rotate: %+v", res)
	}
	recs := records(t, s, "", "cli/0")
	last := recs[len(recs)-1]
	if last.Hook != "secret-changed" || last.Secret != "rotated" || last.Env["JUJU_SECRET_ID"] == "" {
		t.Errorf("after rotate cli/0 ran %s secret=%q env=%v", last.Hook, last.Secret, last.Env["JUJU_SECRET_ID"])
	}
	for _, u := range []string{"rec/0", "rec/1"} {
		for _, r := range records(t, s, "", u) {
			if r.Hook == "secret-changed" {
				t.Errorf("%s: the owner application never gets secret-changed", u)
			}
		}
	}
}
