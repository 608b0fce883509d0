package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/juju/charm/v12"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestDeployScaleStorage checks Juju's install order, peer joins on scale up, departure
// on scale down, and storage that outlives its unit and is attached to a new one.
func TestDeployScaleStorage(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2", "--storage", "data=2G")

	st := s.Status("")
	app := st.Applications["rec"]
	if len(app.Units) != 2 {
		t.Fatalf("units: %v", app.Units)
	}
	if app.Units["rec/0"].Address == app.Units["rec/1"].Address || app.Units["rec/0"].Address == "" {
		t.Errorf("units must have their own addresses: %+v", app.Units)
	}
	if !app.Units["rec/0"].Leader || app.Units["rec/1"].Leader {
		t.Errorf("rec/0 should lead: %+v", app.Units)
	}
	for name, u := range app.Units {
		if u.Workload.Current != "active" || u.Workload.Message != "ready" || u.Agent.Current != "idle" {
			t.Errorf("%s status %+v", name, u)
		}
		if strings.Join(u.OpenPorts, ",") != "8080/tcp" {
			t.Errorf("%s ports %v", name, u.OpenPorts)
		}
	}

	r0 := records(t, s, "", "rec/0")
	wantSeq(t, "rec/0", hooks(r0), []string{"data-storage-attached", "install", "peers-relation-created", "leader-elected",
		"config-changed", "start", "peers-relation-joined(rec/1)", "peers-relation-changed(rec/1)"})
	r1 := records(t, s, "", "rec/1")
	wantSeq(t, "rec/1", hooks(r1), []string{"data-storage-attached", "install", "peers-relation-created", "leader-settings-changed",
		"config-changed", "start", "peers-relation-joined(rec/0)", "peers-relation-changed(rec/0)"})
	sa := r1[0]
	if sa.Env["JUJU_STORAGE_ID"] != "data/1" || sa.Env["JUJU_STORAGE_LOCATION"] != "/srv/data" || sa.Env["JUJU_STORAGE_KIND"] != "filesystem" {
		t.Errorf("storage env: %v", sa.Env)
	}
	if r1[1].Env["JUJU_DISPATCH_PATH"] != "hooks/install" || r1[1].Env["CHARM_DIR"] != "/var/lib/juju/agents/unit-rec-1/charm" ||
		r1[1].Env["JUJU_UNIT_NAME"] != "rec/1" || r1[1].Env["JUJU_VERSION"] == "" || r1[1].Address != app.Units["rec/1"].Address {
		t.Errorf("install env: %+v", r1[1])
	}
	ch1 := r1[len(r1)-1]
	if ch1.Remote["from"] != "rec/0" || ch1.Remote["ingress-address"] != app.Units["rec/0"].Address || ch1.Remote["private-address"] != app.Units["rec/0"].Address {
		t.Errorf("peer data seen by rec/1: %v", ch1.Remote)
	}
	if strings.Join(ch1.Members, ",") != "rec/0" {
		t.Errorf("relation-list on rec/1: %v", ch1.Members)
	}

	info := s.ShowUnit("", "rec/1").Relation(t, "peers")
	if info.RelatedUnits["rec/0"].Data["from"] != "rec/0" || !info.LocalUnit.InScope || info.LocalUnit.Data["ingress-address"] != app.Units["rec/1"].Address {
		t.Errorf("show-unit rec/1: %+v", info)
	}

	// network-get reports the machine's real interface.
	out := s.Exec("rec/0", "sh", "-c", "network-get peers --format=json; ip -o link show eth0 | sed 's/.*link.ether \\([^ ]*\\).*/\\1/'; ip -4 -o addr show eth0")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ng struct {
		Bind []struct {
			MAC   string `json:"mac-address"`
			Iface string `json:"interface-name"`
		} `json:"bind-addresses"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ng); err != nil || len(lines) < 3 {
		t.Fatalf("network-get: %v\n%s", err, out)
	}
	if ng.Bind[0].MAC != lines[1] || ng.Bind[0].Iface != "eth0" || !strings.Contains(lines[2], app.Units["rec/0"].Address+"/") {
		t.Errorf("network-get %+v vs machine %q %q", ng, lines[1], lines[2])
	}

	// Scale up: the new unit installs; the others see it join.
	s.Run("add-unit", "rec")
	r0 = records(t, s, "", "rec/0")
	tail := hooks(r0)[8:]
	wantSeq(t, "rec/0 after add-unit", tail, []string{"peers-relation-joined(rec/2)", "peers-relation-changed(rec/2)"})
	s.Exec("rec/2", "sh", "-c", "echo kept > /srv/data/marker")

	// Scale down: departure hooks, storage detached and kept.
	s.Run("remove-unit", "rec/2")
	r0 = records(t, s, "", "rec/0")
	dep := r0[len(r0)-1]
	if dep.Hook != "peers-relation-departed" || dep.Env["JUJU_REMOTE_UNIT"] != "rec/2" || dep.Env["JUJU_DEPARTING_UNIT"] != "rec/2" {
		t.Errorf("rec/0 last hook %s env %v", dep.Hook, dep.Env)
	}
	if strings.Join(dep.Members, ",") != "rec/1" {
		t.Errorf("relation-list during departed: %v", dep.Members)
	}
	out = s.Run("list-storage", "--format=json")
	var ls struct {
		Storage map[string]struct {
			Status struct{ Current string } `json:"status"`
		} `json:"storage"`
		Filesystems map[string]struct {
			ProviderID string `json:"provider-id"`
			Storage    string `json:"storage"`
			Pool       string `json:"pool"`
			Size       int    `json:"size"`
		} `json:"filesystems"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatal(err)
	}
	if ls.Storage["data/2"].Status.Current != "detached" || ls.Storage["data/0"].Status.Current != "attached" {
		t.Errorf("storage after remove-unit: %s", out)
	}
	for _, fs := range ls.Filesystems {
		if fs.Size != 2048 || !strings.HasPrefix(fs.ProviderID, "vol-") {
			t.Errorf("filesystem %+v", fs)
		}
	}

	// The kept volume attaches to a new unit, data intact, before install.
	s.Run("add-unit", "rec", "--attach-storage", "data/2")
	r3 := records(t, s, "", "rec/3")
	if r3[0].Hook != "data-storage-attached" || r3[0].Env["JUJU_STORAGE_ID"] != "data/2" {
		t.Errorf("rec/3 first hook %s %v", r3[0].Hook, r3[0].Env)
	}
	if got := strings.TrimSpace(s.Exec("rec/3", "cat", "/srv/data/marker")); got != "kept" {
		t.Errorf("volume content after reattach: %q", got)
	}
	if len(s.Status("").Machines) != 3 {
		t.Errorf("the removed unit's machine should be gone: %v", s.Status("").Machines)
	}
}

// TestTeardownOrder checks a unit's own departure hooks.
func TestTeardownOrder(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2", "--storage", "data=1G")
	s.Run("deploy", ch, "cli")
	s.Run("integrate", "rec:db", "cli:backend")
	// The unit's records vanish with its machine: read them from the debug log instead.
	s.Run("remove-unit", "rec/1")
	log := s.Run("debug-log", "--include", "rec/1")
	var ran []string
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "ran \""); i >= 0 {
			h := l[i+5:]
			ran = append(ran, h[:strings.IndexByte(h, '"')])
		}
	}
	n := indexOf(ran, "stop")
	if n < 0 {
		t.Fatalf("no stop hook in %v", ran)
	}
	tail := ran[n-2:]
	if tail[0] != "peers-relation-departed" && tail[0] != "db-relation-departed" {
		t.Errorf("departed hooks should precede stop: %v", ran)
	}
	rest := strings.Join(tail[3:len(tail)-1], " ")
	if len(tail) != 6 || !strings.Contains(rest, "db-relation-broken") || !strings.Contains(rest, "data-storage-detaching") || tail[len(tail)-1] != "remove" {
		t.Errorf("teardown: %v", tail)
	}
	if strings.Contains(strings.Join(ran, " "), "peers-relation-broken") {
		t.Errorf("peer relations never break: %v", ran)
	}
	recs := records(t, s, "", "cli/0")
	last := recs[len(recs)-1]
	if last.Hook != "backend-relation-departed" || last.Env["JUJU_DEPARTING_UNIT"] != "rec/1" {
		t.Errorf("cli/0 last: %s %v", last.Hook, last.Env)
	}
}

// TestLeadership checks elect and the hand-over when the leader goes away.
func TestLeadership(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "3")
	s.Run("elect", "rec/1")
	if l := s.Leader("", "rec"); l != "rec/1" {
		t.Fatalf("leader after elect: %q", l)
	}
	r1 := records(t, s, "", "rec/1")
	if last := r1[len(r1)-1]; last.Hook != "leader-elected" || !last.Leader {
		t.Errorf("rec/1 last hook %s leader=%v", last.Hook, last.Leader)
	}
	r0 := records(t, s, "", "rec/0")
	if last := r0[len(r0)-1]; last.Hook != "leader-settings-changed" || last.Leader {
		t.Errorf("rec/0 last hook %s leader=%v", last.Hook, last.Leader)
	}
	s.Run("remove-unit", "rec/1")
	l := s.Leader("", "rec")
	if l != "rec/0" {
		t.Fatalf("leader after removing the leader: %q", l)
	}
	r0 = records(t, s, "", "rec/0")
	if last := r0[len(r0)-1]; last.Hook != "leader-elected" || !last.Leader {
		t.Errorf("rec/0 after hand-over: %s leader=%v", last.Hook, last.Leader)
	}
}

// TestRefreshAndRemoveApplication checks refresh's hook sequence and that removing an
// application tears its units and relations down.
func TestRefreshAndRemoveApplication(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2", "--storage", "data=1G")
	s.Run("deploy", ch, "cli")
	s.Run("integrate", "rec", "cli:backend")
	// Refresh from a .charm archive, as `make charm` produces.
	archive := filepath.Join(t.TempDir(), "recorder.charm")
	dir, err := charm.ReadCharmDir(ch)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.ArchiveTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.Run("refresh", "rec", "--path", archive)
	hs := hooks(records(t, s, "", "rec/1"))
	wantSeq(t, "rec/1 refresh", hs[len(hs)-4:], []string{"upgrade-charm", "config-changed", "leader-settings-changed", "start"})
	hs = hooks(records(t, s, "", "rec/0"))
	wantSeq(t, "rec/0 refresh", hs[len(hs)-3:], []string{"upgrade-charm", "config-changed", "start"})

	s.Run("remove-application", "rec", "--destroy-storage")
	st := s.Status("")
	if _, ok := st.Applications["rec"]; ok || len(st.Machines) != 1 {
		t.Errorf("rec should be gone with its machines: %+v", st)
	}
	hs = hooks(records(t, s, "", "cli/0"))
	if hs[len(hs)-1] != "backend-relation-broken" {
		t.Errorf("cli/0 should see the relation broken: %v", hs)
	}
	all := strings.Join(hs, " ")
	if strings.Count(all, "backend-relation-departed(rec/0)") != 1 || strings.Count(all, "backend-relation-departed(rec/1)") != 1 || strings.Count(all, "backend-relation-broken") != 1 {
		t.Errorf("each departure and the break run once: %v", hs)
	}
	if out := s.Run("list-storage", "--format=json"); strings.Contains(out, "data/") {
		t.Errorf("--destroy-storage left storage: %s", out)
	}
}
