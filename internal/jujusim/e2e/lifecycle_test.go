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
	s.Serial = true // exact hook sequences across units
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
	// rec/2 enters the scope once installed, after relation-created
	// (worker/uniter/relation/statetracker.go), before it writes its data in its own joined
	// hook: rec/0 sees it join, then change.
	wantSeq(t, "rec/0 after add-unit", tail, []string{"peers-relation-joined(rec/2)", "peers-relation-changed(rec/2)", "peers-relation-changed(rec/2)"})
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

// TestTeardownOrder checks a unit's own teardown in Juju 3.6's order: its storage detaches
// first and is gone for every later hook (worker/uniter/resolver.go runs the storage
// resolver first; worker/uniter/storage/resolver.go, attachments.go), then each non-peer
// relation departs and breaks, then the peers depart (worker/uniter/relation/resolver.go),
// then stop and remove; the others see it depart at once (state/cleanup.go
// cleanupDyingUnit). A volume the charm still uses is unmounted lazily and logged as its fault.
func TestTeardownOrder(t *testing.T) {
	s := simtest.New(t)
	s.Serial = true // exact hook sequences across units
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2", "--storage", "data=1G")
	s.Run("deploy", ch, "cli")
	s.Run("integrate", "rec:db", "cli:backend")
	s.Run("remove-unit", "rec/1")
	// The unit's records vanish with its machine: read them from the debug log instead.
	ran, storage := teardownLog(t, s, "rec/1")
	wantSeq(t, "rec/1 teardown", ran[indexOf(ran, "data-storage-detaching"):], []string{"data-storage-detaching",
		"db-relation-departed", "db-relation-broken", "peers-relation-departed", "stop", "remove"})
	for i, h := range ran[indexOf(ran, "data-storage-detaching"):] {
		if want := map[bool]string{true: "data/1", false: ""}[i == 0]; storage[h] != want {
			t.Errorf("storage-list in %s: %q, want %q", h, storage[h], want)
		}
	}
	log := s.Run("debug-log", "--include", "rec/1")
	if !strings.Contains(log, "storage data/1 detached: unmounted from /srv/data") || strings.Contains(log, "charm fault") || strings.Contains(log, "ERROR") {
		t.Errorf("the volume should be unmounted cleanly:\n%s", log)
	}
	recs := records(t, s, "", "cli/0")
	last := recs[len(recs)-1]
	if last.Hook != "backend-relation-departed" || last.Env["JUJU_DEPARTING_UNIT"] != "rec/1" {
		t.Errorf("cli/0 last: %s %v", last.Hook, last.Env)
	}
	if out := s.Run("list-storage", "--format=json"); !strings.Contains(out, `"data/1"`) || !strings.Contains(out, "detached") {
		t.Errorf("data/1 should be kept, detached: %s", out)
	}

	// A charm that leaves a process working in its volume.
	s.Run("config", "rec", "hold-storage=true")
	s.Run("remove-unit", "rec/0")
	log = s.Run("debug-log", "--include", "rec/0")
	if !strings.Contains(log, "charm fault: storage data/0 was still in use at /srv/data after data-storage-detaching (used by pid") ||
		!strings.Contains(log, "sleep 3600") {
		t.Errorf("a busy volume should be unmounted lazily and reported:\n%s", log)
	}
	if !strings.Contains(log, "charm fault: hooks wrote to /srv/data on the root disk after its storage detached: /srv/data/late") {
		t.Errorf("a write where the volume was should be reported:\n%s", log)
	}
	ran, storage = teardownLog(t, s, "rec/0")
	if storage["stop"] != "" || indexOf(ran, "remove") < 0 {
		t.Errorf("rec/0 after a lazy unmount: %v %v", ran, storage)
	}
}

// teardownLog returns the hooks a unit ran, from the debug log, and what storage-list said
// in each (the recorder's juju-log line; the last run of each hook).
func teardownLog(t *testing.T, s *simtest.Sim, unit string) ([]string, map[string]string) {
	t.Helper()
	log := s.Run("debug-log", "--include", unit)
	var ran []string
	storage := map[string]string{}
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "ran \""); i >= 0 {
			h := l[i+5:]
			ran = append(ran, h[:strings.IndexByte(h, '"')])
		}
		if i := strings.Index(l, "recorder saw "); i >= 0 {
			h, st, _ := strings.Cut(l[i+len("recorder saw "):], " storage=")
			storage[h] = strings.TrimSpace(st)
		}
	}
	return ran, storage
}

// TestLeadership checks elect and the hand-over when the leader goes away: the unit that
// gains leadership runs leader-elected, the others leader-settings-changed
// (worker/uniter/leadership/resolver.go).
func TestLeadership(t *testing.T) {
	s := simtest.New(t)
	s.Serial = true // exact hook sequences across units
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
	s.Serial = true // exact hook sequences across units
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
	// upgrade-charm then config-changed only: Started is never reset
	// (worker/uniter/operation/runhook.go), so no start.
	s.Run("refresh", "rec", "--path", archive)
	for _, u := range []string{"rec/0", "rec/1"} {
		hs := hooks(records(t, s, "", u))
		wantSeq(t, u+" refresh", hs[len(hs)-3:], []string{hs[len(hs)-3], "upgrade-charm", "config-changed"})
		if strings.HasPrefix(hs[len(hs)-3], "upgrade") || strings.Count(strings.Join(hs, " "), "start") != 1 {
			t.Errorf("%s: one upgrade-charm and no second start: %v", u, hs)
		}
	}

	s.Run("remove-application", "rec", "--destroy-storage")
	st := s.Status("")
	if _, ok := st.Applications["rec"]; ok || len(st.Machines) != 1 {
		t.Errorf("rec should be gone with its machines: %+v", st)
	}
	hs := hooks(records(t, s, "", "cli/0"))
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

// TestDetachAttachStorage: `juju detach-storage` on a live unit runs -storage-detaching
// alone, after which the unit lives on without the storage (worker/uniter/storage/
// resolver.go, attachments.go); `juju attach-storage` mounts it again and runs
// -storage-attached.
func TestDetachAttachStorage(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "--storage", "data=1G")
	s.Exec("rec/0", "sh", "-c", "echo kept > /srv/data/marker")
	n := len(records(t, s, "", "rec/0"))

	s.Run("detach-storage", "data/0")
	s.Run("run-hook", "rec/0", "update-status")
	recs := records(t, s, "", "rec/0")[n:]
	wantSeq(t, "rec/0 detach", hooks(recs), []string{"data-storage-detaching", "update-status"})
	if recs[0].Env["JUJU_STORAGE_ID"] != "data/0" || strings.Join(recs[0].Storage, ",") != "data/0" || len(recs[1].Storage) != 0 {
		t.Errorf("storage-list during and after detaching: %v, %v", recs[0].Storage, recs[1].Storage)
	}
	if out := s.Exec("rec/0", "sh", "-c", "mountpoint -q /srv/data && echo mounted; ls /srv/data 2>&1 || true"); strings.Contains(out, "mounted") || strings.Contains(out, "marker") {
		t.Errorf("the volume should be off the machine: %q", out)
	}
	if out := s.Run("list-storage", "--format=json"); !strings.Contains(out, "detached") {
		t.Errorf("list-storage after detach-storage: %s", out)
	}
	if _, _, err := s.RunE("detach-storage", "data/0"); err == nil {
		t.Errorf("detaching detached storage should fail")
	}
	if st := s.Status("").Applications["rec"].Units["rec/0"]; st.Workload.Current == "error" {
		t.Errorf("rec/0 after detach: %+v", st)
	}

	s.Run("attach-storage", "rec/0", "data/0")
	recs = records(t, s, "", "rec/0")[n+2:]
	wantSeq(t, "rec/0 attach", hooks(recs), []string{"data-storage-attached"})
	if recs[0].Env["JUJU_STORAGE_ID"] != "data/0" || recs[0].Env["JUJU_STORAGE_LOCATION"] != "/srv/data" || strings.Join(recs[0].Storage, ",") != "data/0" {
		t.Errorf("storage-attached: %v %v", recs[0].Env, recs[0].Storage)
	}
	if got := strings.TrimSpace(s.Exec("rec/0", "cat", "/srv/data/marker")); got != "kept" {
		t.Errorf("volume content after attach-storage: %q", got)
	}
	if _, _, err := s.RunE("attach-storage", "rec/0", "data/0"); err == nil {
		t.Errorf("attaching attached storage should fail")
	}
}
