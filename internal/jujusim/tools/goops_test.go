package tools

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gruyaume/goops"
)

// inProcess runs goops' hook tool calls through Main, so every argument form goops sends
// and every output it parses is checked against the real tools.
type inProcess struct{ t *testing.T }

func (r inProcess) Run(name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	code := Main(name, args, strings.NewReader(""), &stdout, &stderr)
	r.t.Logf("%s %q -> %d %q %q", name, args, code, stdout.String(), stderr.String())
	if code != 0 {
		return nil, fmt.Errorf("command %s failed: %s: exit status %d", name, stderr.String(), code)
	}
	return stdout.Bytes(), nil
}

func TestGoopsCalls(t *testing.T) {
	home := fixture(t)
	t.Setenv("JUJUSIM_HOME", home)
	t.Setenv("JUJU_CONTEXT_ID", "rel")
	prev := goops.GetCommandRunner()
	goops.SetCommandRunner(inProcess{t})
	defer goops.SetCommandRunner(prev)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	var cfg struct {
		Name  string  `json:"name"`
		Count int     `json:"count"`
		Ratio float64 `json:"ratio"`
		Flag  bool    `json:"flag"`
	}
	must(goops.GetConfig(&cfg))
	if cfg.Name != "set" || cfg.Count != 3 || cfg.Ratio != 0.5 {
		t.Errorf("config %+v", cfg)
	}
	if l, err := goops.IsLeader(); err != nil || !l {
		t.Errorf("is-leader %v %v", l, err)
	}
	if a, err := goops.GetUnitPrivateAddress(); err != nil || a != "10.1.0.2" {
		t.Errorf("private address %q %v", a, err)
	}
	if a, err := goops.GetUnitPublicAddress(); err != nil || a != "10.1.0.2" {
		t.Errorf("public address %q %v", a, err)
	}
	if ids, err := goops.GetRelationIDs("db"); err != nil || strings.Join(ids, ",") != "db:3" {
		t.Errorf("relation ids %v %v", ids, err)
	}
	if us, err := goops.ListRelationUnits("db:3"); err != nil || strings.Join(us, ",") != "client/0" {
		t.Errorf("relation units %v %v", us, err)
	}
	if app, err := goops.GetRelationApp("db:3"); err != nil || app != "client" {
		t.Errorf("relation app %q %v", app, err)
	}
	if d, err := goops.GetUnitRelationData("db:3", "client/0"); err != nil || d["database"] != "app" {
		t.Errorf("unit data %v %v", d, err)
	}
	if d, err := goops.GetAppRelationData("db:3", "client"); err != nil || d["x"] != "y" {
		t.Errorf("app data %v %v", d, err)
	}
	if d, err := goops.GetAppRelationData("db:3", "client/0"); err != nil || d["x"] != "y" {
		t.Errorf("app data via unit name %v %v", d, err)
	}
	must(goops.SetUnitRelationData("db:3", map[string]string{"k": "v"}))
	must(goops.SetAppRelationData("db:3", map[string]string{"ak": "av"}))
	if d, err := goops.GetUnitRelationData("db:3", "pg/0"); err != nil || d["k"] != "v" {
		t.Errorf("own buffered data %v %v", d, err)
	}
	if u, err := goops.GetRelationModelUUID("db:3"); err != nil || u != "m-uuid" {
		t.Errorf("relation model %q %v", u, err)
	}
	must(goops.SetUnitStatus(goops.StatusActive, "all", "good"))
	must(goops.SetAppStatus(goops.StatusWaiting, "app"))
	if s, err := goops.GetUnitStatus(); err != nil || s.Name != goops.StatusActive || s.Message != "all good" {
		t.Errorf("unit status %+v %v", s, err)
	}
	if s, err := goops.GetAppStatus(); err != nil || s.Name != goops.StatusWaiting || len(s.Units) != 2 {
		t.Errorf("app status %+v %v", s, err)
	}
	must(goops.SetAppVersion("15.4"))
	must(goops.OpenPort(5432, goops.ProtocolTCP))
	must(goops.ClosePort(53, goops.ProtocolUDP))
	if ps, err := goops.OpenedPorts(); err != nil || len(ps) != 0 {
		t.Errorf("opened ports (buffered opens excluded) %v %v", ps, err)
	}
	must(goops.SetPorts([]*goops.Port{{Port: 5432, Protocol: goops.ProtocolTCP}}))
	if n, err := goops.GetNetwork("db"); err != nil || n.IngressAddresses[0] != "10.1.0.2" || n.BindAddresses[0].Addresses[0].Value != "10.1.0.2" || n.EgressSubnets[0] != "10.1.0.2/32" {
		t.Errorf("network %+v %v", n, err)
	}
	if s, err := goops.GetStorageByID("pgdata/0"); err != nil || s.Location != "/srv/pgdata" || s.Kind != "filesystem" {
		t.Errorf("storage %+v %v", s, err)
	}
	if ids, err := goops.ListStorage("pgdata"); err != nil || strings.Join(ids, ",") != "pgdata/0" {
		t.Errorf("storage list %v %v", ids, err)
	}
	must(goops.AddStorage("pgdata", 1))
	must(goops.SetState("k", "v"))
	if v, err := goops.GetState("k"); err != nil || v != "v" {
		t.Errorf("state %q %v", v, err)
	}
	must(goops.DeleteState("k"))
	if _, err := goops.GetState("k"); err == nil {
		t.Errorf("deleted state still readable")
	}
	id, err := goops.AddSecret(&goops.AddSecretOptions{Content: map[string]string{"password": "pw"}, Label: "admin", Description: "d", Rotate: goops.RotateNever})
	must(err)
	id = strings.TrimSpace(id)
	if c, err := goops.GetSecretByID(id, false, false); err != nil || c["password"] != "pw" {
		t.Errorf("secret by id %v %v", c, err)
	}
	if c, err := goops.GetSecretByLabel("admin", true, false); err != nil || c["password"] != "pw" {
		t.Errorf("secret by label %v %v", c, err)
	}
	if ids, err := goops.GetSecretIDs(); err != nil || len(ids) != 1 {
		t.Errorf("secret ids %v %v", ids, err)
	}
	if info, err := goops.GetSecretInfoByID(id); err != nil || len(info) != 1 {
		t.Errorf("secret info %v %v", info, err)
	}
	if info, err := goops.GetSecretInfoByLabel("admin"); err != nil || len(info) != 1 {
		t.Errorf("secret info by label %v %v", info, err)
	}
	must(goops.SetSecret(&goops.SetSecretOptions{ID: id, Content: map[string]string{"password": "pw2"}}))
	if c, err := goops.GetSecretByID(id, false, false); err != nil || c["password"] != "pw2" {
		t.Errorf("secret after set %v %v", c, err)
	}
	must(goops.GrantSecretToRelation(id, "db:3"))
	must(goops.GrantSecretToUnit(id, "db:3", "client/0"))
	must(goops.RevokeSecretFromRelation(id, "db:3"))
	must(goops.RevokeSecretFromApp(id, "client"))
	must(goops.RevokeSecretFromUnit(id, "client/0"))
	must(goops.RevokeSecret(id))
	must(goops.RemoveSecret(id))
	if gs, err := goops.GetGoalState(); err != nil || gs.Units["pg/0"].Status != "active" || gs.Relations["db"]["client/0"].Status != "active" {
		t.Errorf("goal state %+v %v", gs, err)
	}
	goops.LogInfof("hello %d", 1)

	t.Setenv("JUJU_CONTEXT_ID", "act")
	var params struct {
		Target string `json:"target"`
		Opts   struct {
			Level int `json:"level"`
		} `json:"opts"`
	}
	must(goops.GetActionParams(&params))
	if params.Target != "x" || params.Opts.Level != 3 {
		t.Errorf("action params %+v", params)
	}
	must(goops.SetActionResults(map[string]string{"a.b": "1"}))
	must(goops.ActionLogf("working %d", 1))
	must(goops.FailActionf("broke %d", 2))
}
