// Command recorder is jujusim's test charm: for every hook and action it appends what it saw
// (environment, leadership, relation members and data, addresses) as one JSON line to
// /var/lib/juju/recorder.jsonl in its machine, and writes a little relation data.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gruyaume/goops"
)

// LogPath is where records go inside the unit's machine.
const LogPath = "/var/lib/juju/recorder.jsonl"

type record struct {
	Unit       string            `json:"unit"`
	Hook       string            `json:"hook"`
	Env        map[string]string `json:"env"`
	Leader     bool              `json:"leader"`
	Members    []string          `json:"members,omitempty"`
	RemoteApp  string            `json:"remote-app,omitempty"`
	Remote     map[string]string `json:"remote,omitempty"`
	RemoteBag  map[string]string `json:"remote-app-bag,omitempty"`
	Address    string            `json:"address,omitempty"`
	Ingress    []string          `json:"ingress,omitempty"`
	Egress     []string          `json:"egress,omitempty"`
	State      string            `json:"state,omitempty"`
	Secret     string            `json:"secret,omitempty"`
	Storage    []string          `json:"storage,omitempty"`      // storage-list
	RelIDs     []string          `json:"relation-ids,omitempty"` // relation-ids of the hook's endpoint
	Start      int64             `json:"start,omitempty"`        // unix nanoseconds
	End        int64             `json:"end,omitempty"`
	ToolErrors []string          `json:"tool-errors,omitempty"`
}

type config struct {
	FailHook string `json:"fail-hook"`
	FailOnce string `json:"fail-once"`
	Hold     bool   `json:"hold-storage"`
	PeerApp  string `json:"peer-app"`
	SlowHook string `json:"slow-hook"`
	Greeting string `json:"greeting"`
	Count    int    `json:"count"`
}

func main() {
	env := goops.ReadEnv()
	path := os.Getenv("JUJU_DISPATCH_PATH")
	if path == "" {
		path = os.Args[0]
	}
	kind, name := filepath.Base(filepath.Dir(path)), filepath.Base(path)
	rec := record{Unit: env.UnitName, Hook: name, Env: map[string]string{}, Start: time.Now().UnixNano()}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "JUJU_") || k == "CHARM_DIR" || k == "HOME" || k == "USER" {
			rec.Env[k] = v
		}
	}
	fail := func(err error) {
		if err != nil {
			rec.ToolErrors = append(rec.ToolErrors, err.Error())
		}
	}
	var cfg config
	fail(goops.GetConfig(&cfg))
	leader, err := goops.IsLeader()
	fail(err)
	rec.Leader = leader
	addr, err := goops.GetUnitPrivateAddress()
	fail(err)
	rec.Address = addr
	if st, err := goops.GetState("doomed"); err == nil {
		rec.State = st
	}
	storage, err := goops.ListStorage("data")
	fail(err)
	rec.Storage = storage
	relID := os.Getenv("JUJU_RELATION_ID")
	if relID != "" {
		members, err := goops.ListRelationUnits(relID)
		fail(err)
		rec.Members = members
		ids, err := goops.GetRelationIDs(os.Getenv("JUJU_RELATION"))
		fail(err)
		rec.RelIDs = ids
		app, err := goops.GetRelationApp(relID)
		fail(err)
		rec.RemoteApp = app
		if ru := os.Getenv("JUJU_REMOTE_UNIT"); ru != "" && !strings.HasSuffix(name, "-relation-departed") {
			data, err := goops.GetUnitRelationData(relID, ru)
			fail(err)
			rec.Remote = data
		}
		if ra := os.Getenv("JUJU_REMOTE_APP"); ra != "" && !strings.HasSuffix(name, "-relation-broken") && os.Getenv("JUJU_RELATION") != "peers" {
			data, err := goops.GetAppRelationData(relID, ra)
			fail(err)
			rec.RemoteBag = data
		}
		if ep := os.Getenv("JUJU_RELATION"); ep != "" {
			if n, err := goops.GetNetwork(ep); err == nil {
				rec.Ingress, rec.Egress = n.IngressAddresses, n.EgressSubnets
			} else {
				fail(err)
			}
		}
	}
	if kind == "actions" {
		runAction(name)
	} else {
		hook(name, relID, leader, cfg, env.UnitName)
		rec.Secret = secrets(name, relID, leader, rec.RemoteBag)
	}
	if cfg.SlowHook == name {
		time.Sleep(500 * time.Millisecond)
	}
	rec.End = time.Now().UnixNano()
	write(rec)
	if kind != "actions" && cfg.FailHook == name {
		fmt.Fprintf(os.Stderr, "recorder: failing %s as configured\n", name)
		os.Exit(1)
	}
	if kind != "actions" && cfg.FailOnce == name {
		marker := "/var/lib/juju/failed-once-" + name
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o600)
			fmt.Fprintf(os.Stderr, "recorder: failing %s once\n", name)
			os.Exit(1)
		}
	}
}

func hook(name, relID string, leader bool, cfg config, unit string) {
	switch {
	case name == "install":
		_ = goops.SetUnitStatus(goops.StatusMaintenance, "installing")
	case name == "start":
		_ = goops.OpenPort(8080, goops.ProtocolTCP)
		_ = goops.SetUnitStatus(goops.StatusActive, "ready")
	case strings.HasSuffix(name, "-relation-joined"):
		_ = goops.SetUnitRelationData(relID, map[string]string{"from": unit, "greeting": cfg.Greeting})
		if leader && !strings.HasPrefix(name, "peers-") {
			_ = goops.SetAppRelationData(relID, map[string]string{"leader": unit})
		}
	}
	if leader && cfg.PeerApp != "" && (name == "config-changed" || cfg.PeerApp == "counter") {
		// The leader writes the peer application bag: "counter" writes a new value in
		// every hook, a charm that never settles.
		v := cfg.PeerApp
		if v == "counter" {
			v = fmt.Sprint(time.Now().UnixNano())
		}
		if ids, err := goops.GetRelationIDs("peers"); err == nil && len(ids) > 0 {
			_ = goops.SetAppRelationData(ids[0], map[string]string{"v": v})
		}
	}
	if name == "data-storage-detaching" && cfg.Hold {
		// A daemon left working in the volume: what a charm must not do.
		cmd := exec.Command("sleep", "3600")
		cmd.Dir = os.Getenv("JUJU_STORAGE_LOCATION")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		_ = cmd.Start()
	}
	if name == "stop" && cfg.Hold {
		// ... and a hook that writes where the volume was.
		_ = os.MkdirAll("/srv/data", 0o755)
		_ = os.WriteFile("/srv/data/late", []byte("on the root disk\n"), 0o644)
	}
	if cfg.FailHook == name {
		if relID != "" {
			_ = goops.SetUnitRelationData(relID, map[string]string{"doomed": "yes"})
		}
		_ = goops.SetState("doomed", "yes")
	}
	storage, _ := goops.ListStorage("data")
	goops.LogInfof("recorder saw %s storage=%s", name, strings.Join(storage, ","))
}

// secrets shares a secret from the db side's leader with the backend side, which records
// what it reads (and re-reads with --refresh on secret-changed).
func secrets(name, relID string, leader bool, remoteBag map[string]string) string {
	switch {
	case name == "db-relation-joined" && leader:
		id := ""
		if ids, err := goops.GetSecretIDs(); err == nil && len(ids) > 0 {
			id = ids[0]
		} else {
			out, err := goops.AddSecret(&goops.AddSecretOptions{Content: map[string]string{"password": "s3cret"}, Label: "db-secret"})
			if err != nil {
				return "add: " + err.Error()
			}
			id = strings.TrimSpace(out)
		}
		if err := goops.GrantSecretToRelation(id, relID); err != nil {
			return "grant: " + err.Error()
		}
		if err := goops.SetAppRelationData(relID, map[string]string{"secret-id": id}); err != nil {
			return "relation-set: " + err.Error()
		}
		return "shared " + id
	case name == "backend-relation-changed" && remoteBag["secret-id"] != "":
		c, err := goops.GetSecretByID(remoteBag["secret-id"], false, false)
		if err != nil {
			return "get: " + err.Error()
		}
		return c["password"]
	case name == "secret-changed":
		c, err := goops.GetSecretByID(os.Getenv("JUJU_SECRET_ID"), false, true)
		if err != nil {
			return "refresh: " + err.Error()
		}
		return c["password"]
	}
	return ""
}

func runAction(name string) {
	switch name {
	case "echo":
		var p struct {
			Msg string `json:"msg"`
		}
		if err := goops.GetActionParams(&p); err != nil {
			_ = goops.FailActionf("action-get: %v", err)
			return
		}
		_ = goops.ActionLogf("echoing %s", p.Msg)
		_ = goops.SetActionResults(map[string]string{"echoed": p.Msg, "nested.key": "v"})
	case "fail":
		_ = goops.FailActionf("asked to fail")
	case "rotate":
		if err := goops.SetSecret(&goops.SetSecretOptions{ID: mustSecretID(), Content: map[string]string{"password": "rotated"}}); err != nil {
			_ = goops.FailActionf("secret-set: %v", err)
		}
	}
}

func write(rec record) {
	data, _ := json.Marshal(rec)
	f, err := os.OpenFile(LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		os.Exit(3)
	}
	defer f.Close()
	_, _ = f.Write(append(data, '\n'))
}

func mustSecretID() string {
	info, err := goops.GetSecretInfoByLabel("db-secret")
	if err != nil {
		return ""
	}
	for id := range info {
		return id
	}
	return ""
}
