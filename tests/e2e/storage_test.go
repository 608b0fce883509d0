package e2e

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// volumes maps each unit to the provider id of its pgdata volume.
func volumes(t *testing.T, s *simtest.Sim) map[string]string {
	t.Helper()
	var ls struct {
		Filesystems map[string]struct {
			ProviderID string `json:"provider-id"`
			Storage    string `json:"storage"`
		} `json:"filesystems"`
		Storage map[string]struct {
			Attachments struct {
				Units map[string]any `json:"units"`
			} `json:"attachments"`
		} `json:"storage"`
	}
	out := s.Run("list-storage", "--format=json")
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatalf("list-storage: %v\n%s", err, out)
	}
	byUnit := map[string]string{}
	for _, fs := range ls.Filesystems {
		for unit := range ls.Storage[fs.Storage].Attachments.Units {
			byUnit[unit] = fs.ProviderID
		}
	}
	return byUnit
}

var importedRE = regexp.MustCompile(`imported storage (pgdata/[0-9]+)`)

func importVolume(t *testing.T, s *simtest.Sim, providerID string) string {
	t.Helper()
	out, stderr, err := s.RunE("import-filesystem", "rootfs", providerID, "pgdata")
	m := importedRE.FindStringSubmatch(out + stderr)
	if err != nil || m == nil {
		t.Fatalf("import-filesystem %s: %v %s%s", providerID, err, out, stderr)
	}
	return m[1]
}

// TestStorageRedeploy is the seed's "PostgreSQL Redeploys with Juju Storage": the data
// written in one model is back, intact, in another that reuses the released volumes, in
// either order of attaching them.
func TestStorageRedeploy(t *testing.T) {
	s, _ := newSim(t, "rightsaidfred")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--storage", "pgdata=1G")
	s.Run("add-unit", "postgresql")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	psql(s, primary, "CREATE TABLE data (d text); INSERT INTO data VALUES ('hello')")
	eventually(t, 30*time.Second, "the row on the standby", func() bool {
		out, err := psqlE(s, standbys[0], "SELECT d FROM data")
		return err == nil && out == "hello"
	})
	vols := volumes(t, s)
	primaryVol, standbyVol := vols[primary], vols[standbys[0]]
	if primaryVol == "" || standbyVol == "" {
		t.Fatalf("volumes: %v", vols)
	}
	s.Run("destroy-model", "rightsaidfred", "--release-storage", "-y")

	// The seed's order: the former primary's volume first, then the standby's.
	s.Run("add-model", "knowwhatimean")
	id := importVolume(t, s, primaryVol)
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--attach-storage", id)
	p, _ := expectRoles(t, s, "postgresql", 0)
	if got := psql(s, p, "SELECT d FROM data"); got != "hello" {
		t.Fatalf("data after redeploy: %q", got)
	}
	id = importVolume(t, s, standbyVol)
	s.Run("add-unit", "postgresql", "--attach-storage", id)
	p, sb := expectRoles(t, s, "postgresql", 1)
	psql(s, p, "INSERT INTO data VALUES ('again')")
	eventually(t, 30*time.Second, "replication to the reattached standby", func() bool {
		out, err := psqlE(s, sb[0], "SELECT count(*) FROM data")
		return err == nil && out == "2"
	})
	vols = volumes(t, s)
	s.Run("destroy-model", "knowwhatimean", "--release-storage", "-y")

	// The other order: the standby's volume comes up first, the primary's joins it.
	s.Run("add-model", "reverse")
	id = importVolume(t, s, vols[sb[0]])
	s.Run("deploy", postgresqlCharm(t), "postgresql", "--attach-storage", id)
	id = importVolume(t, s, vols[p])
	s.Run("add-unit", "postgresql", "--attach-storage", id)
	p, sb = expectRoles(t, s, "postgresql", 1)
	if got := psql(s, p, "SELECT count(*) FROM data"); got != "2" {
		t.Fatalf("rows on the primary after the reverse redeploy: %s", got)
	}
	psql(s, p, "INSERT INTO data VALUES ('third')")
	eventually(t, 30*time.Second, "replication after the reverse redeploy", func() bool {
		out, err := psqlE(s, sb[0], "SELECT count(*) FROM data")
		return err == nil && out == "3"
	})
}
