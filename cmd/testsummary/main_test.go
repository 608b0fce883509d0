package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: needs root\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: needs root\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:5: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC","Elapsed":1.5}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t1.6s\n"}`,
		`{"Action":"pass","Package":"q","Test":"TestD"}`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit %d with a failed test, want 1", code)
	}
	got := out.String()
	for _, want := range []string{"--- FAIL: TestC (p, 1.5s)", "c_test.go:5: boom", "FAIL\tp\t1.6s", "FAILED: p.TestC", `skipped 2 tests: 2× "needs root"`, "tests: 1 passed, 1 failed, 2 skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	var ok bytes.Buffer
	if code := run(strings.NewReader(`{"Action":"pass","Package":"q","Test":"TestD"}`), &ok); code != 0 || !strings.Contains(ok.String(), "skipped: none\ntests: 1 passed, 0 failed, 0 skipped\n") {
		t.Errorf("all passing: exit %d, %q", code, ok.String())
	}
}
