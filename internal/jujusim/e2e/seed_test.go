package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestSeedStorageStory replays the seed walkthrough's storage chapter with its commands:
// deploy with pool storage, destroy-model refusing then releasing, import-filesystem and
// --attach-storage in a new model, data intact.
func TestSeedStorageStory(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("sydney")
	s.Run("add-model", "rightsaidfred")
	s.Run("deploy", ch, "rec", "--storage", "data=ebs,50G")
	s.Run("add-unit", "rec")
	human := s.Run("list-storage")
	if !regexp.MustCompile(`rec/0\s+data/0\s+filesystem\s+ebs\s+vol-[0-9a-f]+\s+/srv/data\s+50.0 GiB\s+attached`).MatchString(human) {
		t.Errorf("list-storage:\n%s", human)
	}
	var ls struct {
		Filesystems map[string]struct {
			ProviderID string `json:"provider-id"`
			Storage    string `json:"storage"`
		} `json:"filesystems"`
	}
	if err := json.Unmarshal([]byte(s.Run("list-storage", "--format=json")), &ls); err != nil {
		t.Fatal(err)
	}
	vols := map[string]string{}
	for _, fs := range ls.Filesystems {
		vols[fs.Storage] = fs.ProviderID
	}
	s.Run("ssh", "rec/0", "echo primary > /srv/data/who")
	s.Run("ssh", "rec/1", "echo standby > /srv/data/who")

	_, stderr, err := s.RunE("destroy-model", "rightsaidfred")
	if err == nil || !strings.Contains(stderr, "The model has persistent storage remaining:") || !strings.Contains(stderr, "2 volumes and 2 filesystems") {
		t.Fatalf("destroy-model without a storage flag: %v\n%s", err, stderr)
	}
	_, stderr, _ = s.RunE("destroy-model", "rightsaidfred", "--release-storage")
	if !strings.Contains(stderr, "Model destroyed.") {
		t.Errorf("destroy-model --release-storage: %s", stderr)
	}

	s.Run("add-model", "knowwhatimean")
	out, stderr, err := s.RunE("import-filesystem", "ebs", vols["data/0"], "data")
	if err != nil || out != "imported storage data/0\n" || !strings.Contains(stderr, `importing "`+vols["data/0"]+`" from storage pool "ebs" as storage "data"`) {
		t.Fatalf("import-filesystem: %v %q %q", err, out, stderr)
	}
	s.Run("deploy", ch, "rec", "--attach-storage", "data/0")
	if got := strings.TrimSpace(s.Run("ssh", "rec/0", "cat /srv/data/who")); got != "primary" {
		t.Errorf("redeployed rec/0 sees %q", got)
	}
	if out := s.Run("import-filesystem", "ebs", vols["data/1"], "data"); out != "imported storage data/1\n" {
		t.Errorf("second import: %q", out)
	}
	s.Run("add-unit", "rec", "--attach-storage", "data/1")
	if got := strings.TrimSpace(s.Run("ssh", "rec/1", "cat", "/srv/data/who")); got != "standby" {
		t.Errorf("redeployed rec/1 sees %q", got)
	}
	human = s.Run("list-storage")
	if strings.Count(human, "attached") != 2 || !strings.Contains(human, vols["data/1"]) {
		t.Errorf("list-storage after redeploy:\n%s", human)
	}

	// Config as the seed sets it: a file keyed by application, then k=v, then one key.
	file := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(file, []byte("rec:\n  greeting: bonjour\n  count: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Run("config", "rec", "--file", file)
	if got := s.Run("config", "rec", "count"); got != "7\n" {
		t.Errorf("config count: %q", got)
	}
	s.Run("config", "rec", "greeting=hola")
	if got := s.Run("config", "rec", "greeting"); got != "hola\n" {
		t.Errorf("config greeting: %q", got)
	}
	if _, stderr, err := s.RunE("config", "rec", "count=many"); err == nil || !strings.Contains(stderr, "count") {
		t.Errorf("a bad int should be refused: %v %s", err, stderr)
	}
	s.Run("config", "rec", "--reset", "greeting")
	if got := s.Run("config", "rec", "greeting"); got != "hello\n" {
		t.Errorf("config after reset: %q", got)
	}

	// 2.9 action spellings.
	out = s.Run("run-action", "rec/0", "echo", "msg=queued")
	m := regexp.MustCompile(`^Action queued with id: "(\d+)"\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run-action without --wait: %q", out)
	}
	out = s.Run("show-action-output", m[1])
	if !strings.Contains(out, "status: completed") || !strings.Contains(out, "echoed: queued") {
		t.Errorf("show-action-output:\n%s", out)
	}

	status := s.Run("status")
	for _, want := range []string{"Model", "knowwhatimean", "App", "Unit", "rec/0*", "Machine", "Relation provider", "rec:peers", "8080/tcp"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
}

// TestSwitchAndSeed checks switch's spellings and that --seed keeps Juju's per-unit order.
func TestSwitchAndSeed(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("singapore")
	s.Bootstrap("sydney")
	_, stderr, _ := s.RunE("switch", "singapore")
	if strings.TrimSpace(stderr) != "sydney:admin/default -> singapore:admin/default" {
		t.Errorf("switch: %q", stderr)
	}
	s.Run("add-model", "server")
	_, stderr, _ = s.RunE("switch", "sydney:admin/default")
	if strings.TrimSpace(stderr) != "singapore:admin/server -> sydney:admin/default" {
		t.Errorf("switch: %q", stderr)
	}
	s.Run("switch", "singapore:server")
	s.Seed = 42
	s.Run("deploy", ch, "rec", "-n", "3")
	for _, u := range []string{"rec/0", "rec/1", "rec/2"} {
		hs := hooks(records(t, s, "", u))
		if hs[0] != "install" || hs[1] != "peers-relation-created" || (hs[2] != "leader-elected" && hs[2] != "leader-settings-changed") ||
			hs[3] != "config-changed" || hs[4] != "start" {
			t.Errorf("%s install sequence under --seed: %v", u, hs)
		}
		for i, h := range hs {
			if strings.HasPrefix(h, "peers-relation-joined(") {
				if i+1 >= len(hs) {
					t.Errorf("%s: %s never followed by changed: %v", u, h, hs)
					continue
				}
				remote := h[len("peers-relation-joined"):]
				if indexOf(hs[i+1:], "peers-relation-changed"+remote) < 0 {
					t.Errorf("%s: no changed after %s: %v", u, h, hs)
				}
			}
		}
	}
}
