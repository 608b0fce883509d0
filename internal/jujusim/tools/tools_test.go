package tools

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// fixture is a model with pg (2 units, leader pg/0) related to client (1 unit) on db:3,
// a peer relation replication:1, storage pgdata/0 on pg/0 and action 5 on pg/0.
func fixture(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	st := state.New()
	st.Controllers["ctl"] = &state.Controller{Name: "ctl", Subnet: "10.1.0.0/24", HostAddr: "10.1.0.1"}
	m := state.NewModel("m-uuid", "default", "ctl")
	st.Models[m.UUID] = m
	m.Apps["pg"] = &state.App{Name: "pg", Leader: "pg/0",
		ConfigTypes:    map[string]string{"name": "string", "count": "int", "ratio": "float", "flag": "boolean", "nodef": "string"},
		ConfigDefaults: map[string]any{"name": "x", "count": float64(3), "ratio": 0.5, "flag": false, "nodef": nil},
		Config:         map[string]any{"name": "set"},
		Endpoints: map[string]state.EndpointInfo{"db": {Interface: "pgsql", Role: "provider"},
			"replication": {Interface: "pgpeer", Role: "peer"}},
		LeaderSettings: map[string]string{"lk": "lv"},
		StorageMeta:    map[string]state.StorageMeta{"pgdata": {Kind: "filesystem", Location: "/srv/pgdata", CountMax: 1}},
	}
	m.Apps["client"] = &state.App{Name: "client", Leader: "client/0", Endpoints: map[string]state.EndpointInfo{"db": {Interface: "pgsql", Role: "requirer"}}}
	for i, u := range []string{"pg/0", "pg/1", "client/0"} {
		app, _ := state.SplitUnit(u)
		id := string(rune('0' + i))
		m.Machines[id] = &state.Machine{ID: id, Addr: "10.1.0." + string(rune('2'+i)), Prefix: 24}
		m.Units[u] = &state.Unit{Name: u, App: app, Machine: id, Life: "alive", Installed: true, Started: true,
			Workload: state.Status{Current: "active", Message: "ok", Since: time.Unix(0, 0)}}
	}
	in := func(data map[string]string, seen ...string) *state.RelUnit {
		return &state.RelUnit{Data: data, InScope: true, Created: true, Seen: seen}
	}
	st.Relations[10] = &state.Relation{Key: 10, Interface: "pgsql", Sides: []*state.RelSide{
		{Model: m.UUID, App: "pg", Endpoint: "db", Role: "provider", ID: 3, Alias: "pg", AppData: map[string]string{"a": "b"},
			Units: map[string]*state.RelUnit{"pg/0": in(map[string]string{"mine": "1"}, "client/0"), "pg/1": in(nil, "client/0")}},
		{Model: m.UUID, App: "client", Endpoint: "db", Role: "requirer", ID: 3, Alias: "client", AppData: map[string]string{"x": "y"},
			Units: map[string]*state.RelUnit{"client/0": in(map[string]string{"database": "app", "private-address": "10.1.0.4"}, "pg/0", "pg/1")}},
	}}
	st.Relations[11] = &state.Relation{Key: 11, Interface: "pgpeer", Peer: true, Sides: []*state.RelSide{
		{Model: m.UUID, App: "pg", Endpoint: "replication", Role: "peer", ID: 1, Alias: "pg", AppData: map[string]string{},
			Units: map[string]*state.RelUnit{"pg/0": in(map[string]string{"role": "primary"}, "pg/1"), "pg/1": in(map[string]string{"role": "standby"}, "pg/0")}},
	}}
	m.Storage["pgdata/0"] = &state.Storage{ID: "pgdata/0", Name: "pgdata", Kind: "filesystem", Unit: "pg/0", Location: "/srv/pgdata", Status: "attached"}
	m.Actions["5"] = &state.Action{ID: "5", Unit: "pg/0", Name: "backup", Status: "running",
		Params: map[string]any{"target": "x", "opts": map[string]any{"level": float64(3)}}}
	st.Contexts["rel"] = &state.HookContext{ID: "rel", Model: m.UUID, Unit: "pg/0", Event: state.Event{Kind: "relation-changed", Rel: 10, RemoteUnit: "client/0"}}
	st.Contexts["inst"] = &state.HookContext{ID: "inst", Model: m.UUID, Unit: "pg/1", Event: state.Event{Kind: "install"}}
	st.Contexts["act"] = &state.HookContext{ID: "act", Model: m.UUID, Unit: "pg/0", Event: state.Event{Kind: "action", Action: "5"}}
	st.Contexts["appchg"] = &state.HookContext{ID: "appchg", Model: m.UUID, Unit: "pg/0", Event: state.Event{Kind: "relation-changed", Rel: 10, RemoteApp: "client"}}
	store, err := state.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Update(func(s *state.State) error { *s = *st; return nil }); err != nil {
		t.Fatal(err)
	}
	return home
}

type step struct {
	ctx, tool string
	args      []string
	out       string // exact stdout unless it starts with "~" (regexp)
	err       string // exact stderr
	code      int
}

func run(t *testing.T, home string, s step) {
	t.Helper()
	t.Setenv("JUJUSIM_HOME", home)
	t.Setenv("JUJU_CONTEXT_ID", s.ctx)
	t.Setenv("JUJU_RELATION_ID", "")
	var stdout, stderr bytes.Buffer
	code := Main(s.tool, s.args, strings.NewReader(""), &stdout, &stderr)
	desc := s.ctx + ": " + s.tool + " " + strings.Join(s.args, " ")
	if code != s.code {
		t.Errorf("%s: exit %d, want %d (stderr %q)", desc, code, s.code, stderr.String())
	}
	if strings.HasPrefix(s.out, "~") {
		if !regexp.MustCompile(s.out[1:]).MatchString(stdout.String()) {
			t.Errorf("%s: stdout %q does not match %s", desc, stdout.String(), s.out[1:])
		}
	} else if stdout.String() != s.out {
		t.Errorf("%s: stdout\n got %q\nwant %q", desc, stdout.String(), s.out)
	}
	if stderr.String() != s.err {
		t.Errorf("%s: stderr\n got %q\nwant %q", desc, stderr.String(), s.err)
	}
}

func runAll(t *testing.T, steps []step) {
	home := fixture(t)
	for _, s := range steps {
		run(t, home, s)
	}
}

func TestRelationTools(t *testing.T) {
	runAll(t, []step{
		{ctx: "rel", tool: "relation-ids", out: "db:3\n"},
		{ctx: "rel", tool: "relation-ids", args: []string{"replication", "--format=json"}, out: "[\"replication:1\"]\n"},
		{ctx: "rel", tool: "relation-ids", args: []string{"nope", "--format", "json"}, out: "[]\n"},
		{ctx: "rel", tool: "relation-ids", args: []string{"nope"}, out: ""},
		{ctx: "inst", tool: "relation-ids", err: "ERROR no endpoint name specified\n", code: 2},
		{ctx: "rel", tool: "relation-ids", args: []string{"--foo"}, err: "ERROR option provided but not defined: --foo\n", code: 2},
		{ctx: "rel", tool: "relation-list", out: "client/0\n"},
		{ctx: "rel", tool: "relation-list", args: []string{"-r=1", "--format=json"}, out: "[\"pg/1\"]\n"},
		{ctx: "rel", tool: "relation-list", args: []string{"-r", "db:3", "--app"}, out: "client\n"},
		{ctx: "rel", tool: "relation-list", args: []string{"-r3", "--app", "--format=json"}, out: "\"client\"\n"},
		{ctx: "inst", tool: "relation-list", args: []string{"-r", "replication:1", "--app"}, out: "pg\n"},
		{ctx: "rel", tool: "relation-list", args: []string{"-r", "db:99"}, err: "ERROR invalid value \"db:99\" for option -r: relation not found\n", code: 2},
		{ctx: "rel", tool: "relation-list", args: []string{"--relation=db:99"}, err: "ERROR invalid value \"db:99\" for option --relation: relation not found\n", code: 2},
		{ctx: "rel", tool: "relation-list", args: []string{"-r", "db:x"}, err: "ERROR invalid value \"db:x\" for option -r: invalid relation id\n", code: 2},
		{ctx: "inst", tool: "relation-list", err: "ERROR no relation id specified\n", code: 2},
		{ctx: "rel", tool: "relation-get", args: []string{"database"}, out: "app\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"missing"}, out: ""},
		{ctx: "rel", tool: "relation-get", args: []string{"missing", "--format=json"}, out: "null\n"},
		{ctx: "rel", tool: "relation-get", out: "database: app\nprivate-address: 10.1.0.4\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"-r=3", "-", "client/0", "--format=json"}, out: "{\"database\":\"app\",\"private-address\":\"10.1.0.4\"}\n"},
		{ctx: "inst", tool: "relation-get", args: []string{"-r=3", "-", "client/0", "--app", "--format=json"}, out: "{\"x\":\"y\"}\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"--app", "-", "pg"}, out: "a: b\n"},
		{ctx: "inst", tool: "relation-get", args: []string{"-r", "db:3", "--app", "-", "pg"}, err: "ERROR permission denied\n", code: 1},
		{ctx: "inst", tool: "relation-get", args: []string{"-r", "replication:1", "-", "pg/0"}, out: "role: primary\n"},
		{ctx: "inst", tool: "relation-get", args: []string{"-r", "replication:1", "--app", "-", "pg", "--format=json"}, out: "{}\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"-", "client"}, err: "ERROR expected unit name, got application name \"client\"\n", code: 1},
		{ctx: "rel", tool: "relation-get", args: []string{"-", "other/7"}, err: "ERROR cannot read settings for unit \"other/7\" in relation \"db:3\": unit \"other/7\": settings not found\n", code: 1},
		{ctx: "appchg", tool: "relation-get", out: "x: \"y\"\n"},
		{ctx: "inst", tool: "relation-get", args: []string{"-r", "db:3"}, err: "ERROR no unit or application specified\n", code: 2},
		// Buffered writes are visible to the writer within its hook.
		{ctx: "rel", tool: "relation-set", args: []string{"a=1", " b = two ", "mine="}},
		{ctx: "rel", tool: "relation-get", args: []string{"-", "pg/0", "--format=json"}, out: "{\"a\":\"1\",\"b\":\"two\"}\n"},
		{ctx: "rel", tool: "relation-set", args: []string{"bad"}, err: "ERROR expected \"key=value\", got \"bad\"\n", code: 2},
		{ctx: "rel", tool: "relation-set", args: []string{"k=1", "k=2"}, err: "ERROR key \"k\" specified more than once\n", code: 2},
		{ctx: "inst", tool: "relation-set", args: []string{"-r", "db:3", "--app", "k=v"}, err: "ERROR cannot write relation settings\n", code: 1},
		{ctx: "rel", tool: "relation-set", args: []string{"--app", "k=v"}},
		{ctx: "rel", tool: "relation-get", args: []string{"--app", "k", "pg"}, out: "v\n"},
		{ctx: "rel", tool: "relation-model-get", args: []string{"--format=json"}, out: "{\"uuid\":\"m-uuid\"}\n"},
		{ctx: "rel", tool: "relation-ids", args: []string{"-h"}, out: "~^Usage: relation-ids"},
	})
}

func TestConfigLeaderStatusTools(t *testing.T) {
	runAll(t, []step{
		{ctx: "rel", tool: "config-get", out: "count: 3\nflag: false\nname: set\nratio: 0.5\n"},
		{ctx: "rel", tool: "config-get", args: []string{"--all", "--format=json"}, out: "{\"count\":3,\"flag\":false,\"name\":\"set\",\"nodef\":null,\"ratio\":0.5}\n"},
		{ctx: "rel", tool: "config-get", args: []string{"count", "--format=json"}, out: "3\n"},
		{ctx: "rel", tool: "config-get", args: []string{"flag"}, out: "False\n"},
		{ctx: "rel", tool: "config-get", args: []string{"nope", "--format=json"}, out: "null\n"},
		{ctx: "rel", tool: "config-get", args: []string{"-a", "name"}, err: "ERROR cannot use argument --all together with key \"name\"\n", code: 2},
		{ctx: "rel", tool: "is-leader", out: "True\n"},
		{ctx: "inst", tool: "is-leader", args: []string{"--format=json"}, out: "false\n"},
		{ctx: "rel", tool: "leader-get", out: "lk: lv\n"},
		{ctx: "inst", tool: "leader-set", args: []string{"a=b"}, err: "ERROR cannot write leadership settings: cannot write settings: not the leader\n", code: 1},
		{ctx: "rel", tool: "leader-set", args: []string{"a=b"}},
		{ctx: "inst", tool: "leader-get", args: []string{"a", "--format=json"}, out: "\"b\"\n"},
		{ctx: "rel", tool: "status-set", args: []string{"bogus"}, err: "ERROR invalid status \"bogus\", expected one of [maintenance blocked waiting active]\n", code: 2},
		{ctx: "rel", tool: "status-set", err: "ERROR invalid args, require <status> [message] [data]\n", code: 2},
		{ctx: "inst", tool: "status-set", args: []string{"--application", "active"}, err: "ERROR this unit is not the leader\n", code: 1},
		{ctx: "rel", tool: "status-set", args: []string{"--application=False", "blocked", "--", "needs db"}},
		{ctx: "rel", tool: "status-get", out: "blocked\n"},
		{ctx: "rel", tool: "status-get", args: []string{"--format=json"}, out: "{\"status\":\"blocked\"}\n"},
		{ctx: "rel", tool: "status-get", args: []string{"--include-data", "--format=json"}, out: "{\"message\":\"needs db\",\"status\":\"blocked\",\"status-data\":{}}\n"},
		{ctx: "rel", tool: "status-set", args: []string{"--application", "waiting", "app msg"}},
		{ctx: "rel", tool: "status-get", args: []string{"--application", "--include-data", "--format=json"},
			out: "{\"application-status\":{\"message\":\"app msg\",\"status\":\"waiting\",\"status-data\":{},\"units\":{\"pg/0\":{\"message\":\"needs db\",\"status\":\"blocked\",\"status-data\":{}},\"pg/1\":{\"message\":\"ok\",\"status\":\"active\",\"status-data\":{}}}}}\n"},
		{ctx: "inst", tool: "status-get", args: []string{"--application"}, err: "ERROR finding application status: this unit is not the leader\n", code: 1},
		{ctx: "rel", tool: "application-version-set", args: []string{"15.4"}},
		{ctx: "rel", tool: "application-version-set", err: "ERROR no version specified\n", code: 2},
		{ctx: "rel", tool: "juju-log", err: "ERROR no message specified\n", code: 2},
		{ctx: "rel", tool: "juju-log", args: []string{"--log-level=WARNING", "hello", "world"}},
		{ctx: "rel", tool: "goal-state", args: []string{"--format=json"}, out: "~^\\{\"relations\":\\{\"db\":\\{\"client\":\\{\"status\":\"joined\"\\},\"client/0\":\\{\"status\":\"active\",\"since\":\"[^\"]+\"\\}\\},\"replication\":\\{\"pg\":\\{\"status\":\"joined\"\\},\"pg/1\":"},
	})
}

func TestActionTools(t *testing.T) {
	runAll(t, []step{
		{ctx: "act", tool: "action-get", out: "opts:\n  level: 3\ntarget: x\n"},
		{ctx: "act", tool: "action-get", args: []string{"opts.level"}, out: "3\n"},
		{ctx: "act", tool: "action-get", args: []string{"nope", "--format=json"}, out: "null\n"},
		{ctx: "rel", tool: "action-get", err: "ERROR not running an action\n", code: 1},
		{ctx: "act", tool: "action-set", args: []string{"Bad=1"}, err: "ERROR key \"Bad\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods\n", code: 2},
		{ctx: "act", tool: "action-set", args: []string{"stdout=1"}, err: "ERROR cannot set reserved action key \"stdout\"\n", code: 2},
		{ctx: "act", tool: "action-set", args: []string{"novalue"}, err: "ERROR argument \"novalue\" must be of the form key...=value\n", code: 2},
		{ctx: "act", tool: "action-set", args: []string{"a.b=1", "c=2"}},
		{ctx: "act", tool: "action-log", args: []string{"step", "one"}},
		{ctx: "act", tool: "action-fail"},
		{ctx: "rel", tool: "action-fail", err: "ERROR not running an action\n", code: 1},
	})
	home := fixture(t)
	run(t, home, step{ctx: "act", tool: "action-set", args: []string{"a.b=1"}})
	run(t, home, step{ctx: "act", tool: "action-fail", args: []string{"it broke"}})
	store := &state.Store{Dir: home}
	_ = store.View(func(st *state.State) error {
		a := st.Models["m-uuid"].Actions["5"]
		if a.Status != "failed" || a.Message != "it broke" {
			t.Errorf("action-fail: %+v", a)
		}
		if b, _ := a.Results["a"].(map[string]any); b["b"] != "1" {
			t.Errorf("nested results: %+v", a.Results)
		}
		return nil
	})
}

func TestNetworkStoragePortTools(t *testing.T) {
	runAll(t, []step{
		{ctx: "rel", tool: "network-get", args: []string{"db", "--format=json"},
			out: "{\"bind-addresses\":[{\"mac-address\":\"" + MACAddress("10.1.0.2") + "\",\"interface-name\":\"eth0\",\"addresses\":[{\"value\":\"10.1.0.2\",\"cidr\":\"10.1.0.0/24\"}]}],\"egress-subnets\":[\"10.1.0.2/32\"],\"ingress-addresses\":[\"10.1.0.2\"]}\n"},
		{ctx: "rel", tool: "network-get", args: []string{"db"},
			out: "bind-addresses:\n- mac-address: " + MACAddress("10.1.0.2") + "\n  interface-name: eth0\n  addresses:\n  - value: 10.1.0.2\n    cidr: 10.1.0.0/24\n    address: 10.1.0.2\n  macaddress: " + MACAddress("10.1.0.2") + "\n  interfacename: eth0\negress-subnets:\n- 10.1.0.2/32\ningress-addresses:\n- 10.1.0.2\n"},
		{ctx: "rel", tool: "network-get", args: []string{"db", "--ingress-address"}, out: "10.1.0.2\n"},
		{ctx: "rel", tool: "network-get", args: []string{"db", "--egress-subnets", "--format=json"}, out: "[\"10.1.0.2/32\"]\n"},
		{ctx: "rel", tool: "network-get", args: []string{"db", "--bind-address", "--ingress-address"}, out: "bind-address: 10.1.0.2\ningress-address: 10.1.0.2\n"},
		{ctx: "rel", tool: "network-get", args: []string{"nope"}, err: "ERROR no network config found for binding \"nope\"\n", code: 1},
		{ctx: "rel", tool: "network-get", args: []string{"db", "--primary-address", "--bind-address"}, err: "ERROR --primary-address must be the only flag specified\n", code: 2},
		{ctx: "rel", tool: "unit-get", args: []string{"private-address"}, out: "10.1.0.2\n"},
		{ctx: "rel", tool: "unit-get", args: []string{"public-address", "--format=json"}, out: "\"10.1.0.2\"\n"},
		{ctx: "rel", tool: "unit-get", args: []string{"foo"}, err: "ERROR unknown setting \"foo\"\n", code: 2},
		{ctx: "rel", tool: "storage-get", args: []string{"-s", "pgdata/0"}, out: "kind: filesystem\nlocation: /srv/pgdata\n"},
		{ctx: "rel", tool: "storage-get", args: []string{"location", "-s", "pgdata/0"}, out: "/srv/pgdata\n"},
		{ctx: "rel", tool: "storage-get", args: []string{"-s", "pgdata/9"}, err: "ERROR invalid value \"pgdata/9\" for option -s: storage not found\n", code: 2},
		{ctx: "rel", tool: "storage-get", args: []string{"-s", "bad"}, err: "ERROR invalid value \"bad\" for option -s: invalid storage ID \"bad\"\n", code: 2},
		{ctx: "rel", tool: "storage-get", err: "ERROR no storage instance specified\n", code: 2},
		{ctx: "rel", tool: "storage-get", args: []string{"size", "-s", "pgdata/0"}, err: "ERROR invalid storage attribute \"size\"\n", code: 2},
		{ctx: "rel", tool: "storage-list", args: []string{"--format=json"}, out: "[\"pgdata/0\"]\n"},
		{ctx: "inst", tool: "storage-list", args: []string{"pgdata", "--format=json"}, out: "[]\n"},
		{ctx: "rel", tool: "open-port", args: []string{"5432"}},
		{ctx: "rel", tool: "opened-ports", args: []string{"--format=json"}, out: "[]\n"},
		{ctx: "rel", tool: "open-port", args: []string{"80/icmp"}, err: "ERROR protocol \"icmp\" doesn't support any ports; got \"80\"\n", code: 2},
		{ctx: "rel", tool: "open-port", args: []string{"0"}, err: "ERROR port range bounds must be between 1 and 65535, got 0-0\n", code: 2},
		{ctx: "rel", tool: "open-port", args: []string{"80/sctp"}, err: "ERROR invalid protocol \"sctp\", expected \"tcp\", \"udp\", or \"icmp\"\n", code: 2},
		{ctx: "rel", tool: "close-port", args: []string{"1000-2000/udp"}},
	})
}

func TestStateAndSecretTools(t *testing.T) {
	runAll(t, []step{
		{ctx: "rel", tool: "state-get", args: []string{"--format=json"}, out: "null\n"},
		{ctx: "rel", tool: "state-set", args: []string{"k=v", "j=w"}},
		{ctx: "rel", tool: "state-get", args: []string{"k"}, out: "v\n"},
		{ctx: "rel", tool: "state-get", args: []string{"missing", "--format=json"}, out: "\"\"\n"},
		{ctx: "rel", tool: "state-get", args: []string{"missing", "--strict"}, err: "ERROR \"missing\" not found\n", code: 1},
		{ctx: "rel", tool: "state-delete", args: []string{"j"}},
		{ctx: "rel", tool: "state-get", args: []string{"--format=json"}, out: "{\"k\":\"v\"}\n"},
		// state-set k= stores "" (worker/uniter/runner/jujuc/state-set.go); only
		// state-delete deletes.
		{ctx: "rel", tool: "state-set", args: []string{"k="}},
		{ctx: "rel", tool: "state-get", args: []string{"--format=json"}, out: "{\"k\":\"\"}\n"},
		{ctx: "rel", tool: "state-get", args: []string{"k", "--strict"}},
		// Secret content: Juju's key rule (core/secrets/createsecret.go keyRegExp) and size
		// limits (3.6: 8 KiB a value, 64 KiB in all), --file included.
		{ctx: "rel", tool: "secret-add", args: []string{"ab=x"}, err: "ERROR invalid key \"ab\"\n", code: 2},
		{ctx: "rel", tool: "secret-add", args: []string{"a--b=x"}, err: "ERROR invalid key \"a--b\"\n", code: 2},
		{ctx: "rel", tool: "secret-add", args: []string{"Key=x"}, err: "ERROR invalid key \"Key\"\n", code: 2},
		{ctx: "rel", tool: "secret-add", args: []string{"big=" + strings.Repeat("x", 8<<10+1)}, err: "ERROR secret content for key \"big\" too large: 8193 bytes (limit 8192)\n", code: 1},
		{ctx: "rel", tool: "secret-add", args: bigSecret(9), err: "ERROR secret content too large: 73728 bytes (limit 65536)\n", code: 1},
		{ctx: "inst", tool: "secret-add", args: []string{"password=x"}, err: "ERROR permission denied\n", code: 1},
		{ctx: "inst", tool: "secret-add", args: []string{"--owner=unit", "password=x"}, out: "~^secret:[0-9a-v]{20}\n$"},
		{ctx: "rel", tool: "secret-add", args: []string{"--label=creds", "--description=d", "password=x"}, out: "~^secret:[0-9a-v]{20}\n$"},
		{ctx: "rel", tool: "secret-add", err: "ERROR missing secret value or filename\n", code: 2},
		{ctx: "rel", tool: "secret-get", args: []string{"--label=creds", "--format=json"}, out: "{\"password\":\"x\"}\n"},
		{ctx: "rel", tool: "secret-get", args: []string{"--label=creds", "password"}, err: "ERROR secret URI \"password\" not valid\n", code: 2},
		{ctx: "rel", tool: "secret-get", args: []string{"--label=creds"}, out: "password: x\n"},
		{ctx: "rel", tool: "secret-info-get", args: []string{"--label=creds", "--format=json"}, out: "~^\\{\"[0-9a-v]{20}\":\\{\"revision\":1,\"label\":\"creds\",\"description\":\"d\",\"owner\":\"application\",\"rotation\":\"never\"\\}\\}\n$"},
		{ctx: "rel", tool: "secret-ids", args: []string{"--format=json"}, out: "~^\\[\"secret:[0-9a-v]{20}\"\\]\n$"},
		{ctx: "rel", tool: "secret-get", args: []string{"secret:nope"}, err: "ERROR secret URI \"secret:nope\" not valid\n", code: 2},
		{ctx: "rel", tool: "secret-get", args: []string{"secret:0123456789abcdefghij"}, err: "ERROR secret \"0123456789abcdefghij\" not found\n", code: 1},
	})
}

func TestFlagForms(t *testing.T) {
	runAll(t, []step{
		{ctx: "rel", tool: "relation-get", args: []string{"-r", "3", "database"}, out: "app\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"database", "-r3"}, out: "app\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"--relation", "db:3", "--", "database"}, out: "app\n"},
		{ctx: "rel", tool: "relation-get", args: []string{"-r"}, err: "ERROR option needs an argument: -r\n", code: 2},
		{ctx: "rel", tool: "relation-get", args: []string{"--format=xml"}, err: "ERROR invalid value \"xml\" for option --format: unknown format \"xml\"\n", code: 2},
		{ctx: "rel", tool: "is-leader", args: []string{"extra"}, err: "ERROR unrecognized args: [\"extra\"]\n", code: 2},
		{ctx: "nope", tool: "is-leader", err: "ERROR bad request: unknown context \"nope\" (is this run from a jujusim hook?)\n", code: 1},
	})
}

// bigSecret is n values of 8 KiB each.
func bigSecret(n int) []string {
	var args []string
	for i := 0; i < n; i++ {
		args = append(args, "key"+string(rune('a'+i))+"="+strings.Repeat("x", 8<<10))
	}
	return args
}
