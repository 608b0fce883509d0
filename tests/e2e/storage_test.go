package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
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

// TestDetachAttachStorage: `juju detach-storage` of the primary's and of a standby's
// volume on live units (worker/uniter/storage/resolver.go runs pgdata-storage-detaching
// alone; later hooks see no storage): each unit stops PostgreSQL, blocks saying why, and
// creates nothing on its root disk; attaching the volumes back makes the group whole.
func TestDetachAttachStorage(t *testing.T) {
	s, _ := newSim(t, "detach")
	s.Run("deploy", postgresqlCharm(t), "postgresql", "-n", "2", "--storage", "pgdata=1G")
	primary, standbys := expectRoles(t, s, "postgresql", 1)
	psql(s, primary, "CREATE TABLE kept (i int); INSERT INTO kept VALUES (1)")
	eventually(t, 30*time.Second, "the row on the standby", func() bool {
		out, err := psqlE(s, standbys[0], "SELECT count(*) FROM kept")
		return err == nil && out == "1"
	})
	ids := storageIDs(t, s)
	for _, unit := range []string{primary, standbys[0]} {
		s.Run("detach-storage", ids[unit])
		s.Run("run-hook", unit, "update-status") // a later hook without the storage
		st := s.Status("").Applications["postgresql"].Units[unit].Workload
		want := "pgdata storage " + ids[unit] + " is detached: PostgreSQL stopped; attach it again with juju attach-storage " + unit + " " + ids[unit]
		if st.Current != "blocked" || st.Message != want {
			t.Errorf("%s after detach-storage: %s %q, want blocked %q", unit, st.Current, st.Message, want)
		}
		if out := s.Exec(unit, "sh", "-c", "mountpoint -q /srv/pgdata && echo mounted; ls -A /srv/pgdata 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s without its volume: still mounted, or files on the root disk: %q", unit, out)
		}
		if out := strings.Fields(s.Exec(unit, "pg_lsclusters", "-h")); len(out) < 4 || out[3] != "down" {
			t.Errorf("%s without its volume: pg_lsclusters %v, want the cluster down", unit, out)
		}
	}
	for _, unit := range []string{standbys[0], primary} {
		s.Run("attach-storage", unit, ids[unit])
	}
	// The leader never keeps a unit without its storage as primary: when the standby led,
	// it took over while the primary's volume was away (the old primary then rewinds to
	// follow it); either way the row is there and there is one primary.
	p, sb := expectRoles(t, s, "postgresql", 1)
	if n := psql(s, p, "SELECT count(*) FROM kept"); n != "1" {
		t.Errorf("rows on the primary %s after reattaching: %s, want 1", p, n)
	}
	psql(s, p, "INSERT INTO kept VALUES (2)")
	eventually(t, 30*time.Second, "replication after reattaching", func() bool {
		out, err := psqlE(s, sb[0], "SELECT count(*) FROM kept")
		return err == nil && out == "2"
	})
	teardownFaults(t, s)
}

// storageIDs maps each unit to its pgdata storage id.
func storageIDs(t *testing.T, s *simtest.Sim) map[string]string {
	t.Helper()
	var ls struct {
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
	ids := map[string]string{}
	for id, st := range ls.Storage {
		for unit := range st.Attachments.Units {
			ids[unit] = id
		}
	}
	return ids
}

// teardownFaults fails the test on any charm fault jujusim logged in the model.
func teardownFaults(t *testing.T, s *simtest.Sim) {
	t.Helper()
	for _, l := range strings.Split(s.Run("debug-log"), "\n") {
		if strings.Contains(l, "charm fault") {
			t.Errorf("%s", l)
		}
	}
}
