// Command testsummary reads `go test -json` on stdin, prints what `go test` would (package
// results, and the output of failed tests), and ends with one line summing up the skipped
// tests by reason, so that a run that skipped whole areas says so, and with the plain count
// "tests: N passed, N failed, N skipped" (subtests included) that CI reads. It exits 1 if a
// test or a package failed.
//
//	go test -json ./... | go run ./cmd/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of test2json.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// reasonRE matches the t.Skip line under "--- SKIP": "    file_test.go:12: reason".
var reasonRE = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: (.*)$`)

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	outputs := map[string][]string{} // package/test -> output lines
	skips := map[string]int{}        // reason -> tests
	var failed []string
	var passed, skipped, failedTests int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			fmt.Fprintln(out, sc.Text()) // not JSON: build errors and the like
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			if ev.Test == "" {
				// Package lines: "ok", "FAIL", "?   ... [no test files]" and panics.
				if l := strings.TrimRight(ev.Output, "\n"); l != "PASS" && l != "FAIL" && !strings.HasPrefix(l, "=== ") {
					fmt.Fprintln(out, l)
				}
				continue
			}
			outputs[key] = append(outputs[key], strings.TrimRight(ev.Output, "\n"))
		case "skip":
			if ev.Test != "" {
				skips[skipReason(outputs[key])]++
				skipped++
			}
			delete(outputs, key)
		case "fail":
			if ev.Test == "" {
				failed = append(failed, ev.Package) // a build failure, a panic, a timeout
			} else {
				failedTests++
				failed = append(failed, ev.Package+"."+ev.Test)
				fmt.Fprintf(out, "--- FAIL: %s (%s, %.1fs)\n", ev.Test, ev.Package, ev.Elapsed)
				for _, l := range outputs[key] {
					if !strings.HasPrefix(l, "=== ") {
						fmt.Fprintln(out, l)
					}
				}
			}
			delete(outputs, key)
		case "pass":
			if ev.Test != "" {
				passed++
			}
			delete(outputs, key)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(out, "FAILED: %s\n", strings.Join(failed, ", "))
	}
	fmt.Fprintln(out, summary(skips))
	if failedTests == 0 && len(failed) > 0 {
		failedTests = len(failed) // a package that failed without a failing test (build, panic)
	}
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failedTests, skipped)
	if len(failed) > 0 {
		return 1
	}
	return 0
}

// skipReason is the message of the last skip line of a test's output.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if m := reasonRE.FindStringSubmatch(lines[i]); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	return "no reason given"
}

// summary is the one line of skips: "skipped 12 tests: 9 end-to-end test; skipped with -short; 3 ...".
func summary(skips map[string]int) string {
	if len(skips) == 0 {
		return "skipped: none"
	}
	type r struct {
		reason string
		n      int
	}
	var rs []r
	total := 0
	for k, n := range skips {
		rs = append(rs, r{k, n})
		total += n
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || (rs[i].n == rs[j].n && rs[i].reason < rs[j].reason) })
	var parts []string
	for _, x := range rs {
		parts = append(parts, fmt.Sprintf("%d× %q", x.n, x.reason))
	}
	return fmt.Sprintf("skipped %d tests: %s", total, strings.Join(parts, ", "))
}
