package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

var (
	charmOnce sync.Once
	charmDir  string
)

// recorderCharm builds tests/charms/recorder once per test binary.
func recorderCharm(t *testing.T) string {
	t.Helper()
	charmOnce.Do(func() {
		charmDir = simtest.BuildCharm(&onceT{t}, "tests/charms/recorder")
	})
	if charmDir == "" {
		t.Fatal("recorder charm did not build")
	}
	return charmDir
}

// onceT keeps the charm directory beyond the first test's TempDir.
type onceT struct{ *testing.T }

func (o *onceT) TempDir() string {
	dir, err := osMkdirTemp()
	if err != nil {
		o.Fatal(err)
	}
	return dir
}

type record struct {
	Unit      string            `json:"unit"`
	Hook      string            `json:"hook"`
	Env       map[string]string `json:"env"`
	Leader    bool              `json:"leader"`
	Members   []string          `json:"members"`
	RemoteApp string            `json:"remote-app"`
	Remote    map[string]string `json:"remote"`
	RemoteBag map[string]string `json:"remote-app-bag"`
	Address   string            `json:"address"`
	Ingress   []string          `json:"ingress"`
	Egress    []string          `json:"egress"`
	State     string            `json:"state"`
	Secret    string            `json:"secret"`
	Storage   []string          `json:"storage"`
	RelIDs    []string          `json:"relation-ids"`
	Start     int64             `json:"start"`
	End       int64             `json:"end"`
	Errors    []string          `json:"tool-errors"`
}

// records reads a unit's recorder log from its machine.
func records(t *testing.T, s *simtest.Sim, model, unit string) []record {
	t.Helper()
	args := []string{"exec", unit, "--", "cat", "/var/lib/juju/recorder.jsonl"}
	if model != "" {
		args = []string{"exec", "-m", model, unit, "--", "cat", "/var/lib/juju/recorder.jsonl"}
	}
	out := s.Run(args...)
	return parseRecords(t, strings.Split(strings.TrimSpace(out), "\n"))
}

// parseRecords parses recorder lines.
func parseRecords(t *testing.T, lines []string) []record {
	t.Helper()
	var recs []record
	for _, l := range lines {
		if l == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s %s: hook tool errors: %v", r.Unit, r.Hook, r.Errors)
		}
		recs = append(recs, r)
	}
	return recs
}

func hooks(recs []record) []string {
	var hs []string
	for _, r := range recs {
		h := r.Hook
		if ru := r.Env["JUJU_REMOTE_UNIT"]; ru != "" {
			h += "(" + ru + ")"
		}
		hs = append(hs, h)
	}
	return hs
}

func find(recs []record, hook string) []record {
	var res []record
	for _, r := range recs {
		if r.Hook == hook {
			res = append(res, r)
		}
	}
	return res
}

func wantSeq(t *testing.T, unit string, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s hooks:\n got %v\nwant %v", unit, got, want)
	}
}

// indexOf returns the position of hook in hs (-1 if absent).
func indexOf(hs []string, hook string) int {
	for i, h := range hs {
		if h == hook {
			return i
		}
	}
	return -1
}
