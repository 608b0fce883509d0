// Command report turns `go test -bench` output of the archive benchmarks into tables that
// compare our tools with the peers measured in the same run.
//
// Benchmarks are named Benchmark<Op>/<repo>/<tool>: a tool whose name starts with "ours" is
// ours, one starting with "limit-" a physical limit, anything else a peer. Units ending in "/s"
// are rates (higher is better); units ending in "-s" are durations (lower is better). Each
// row's ratio says how many times better ours is than that row (the best of our variants, for
// each unit), so a peer at 0.5x is twice as fast as we are; a group with no figure of ours
// (limits measured apart) compares with ours in the same benchmark's other groups.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// result is one benchmark line: the metrics of one tool.
type result struct {
	group, tool string
	metrics     map[string]float64
}

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	results, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	render(os.Stdout, results)
}

// parse reads benchmark lines ("BenchmarkX/a/b-2  1  123 ns/op  4.5 unit ...") in order.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		group, tool := name, ""
		if i := strings.LastIndexByte(name, '/'); i > 0 {
			group, tool = name[:i], name[i+1:]
		}
		res := result{group: group, tool: tool, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil || f[i+1] == "ns/op" {
				continue
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// parentOf is a group's name without its last element ("BackupPeers/scale-135/local" →
// "BackupPeers/scale-135").
func parentOf(group string) string {
	if i := strings.LastIndexByte(group, '/'); i > 0 {
		return group[:i]
	}
	return group
}

func isOurs(tool string) bool { return strings.HasPrefix(tool, "ours") }

// higherIsBetter tells rates from durations; false for units that are neither.
func higherIsBetter(unit string) (higher, known bool) {
	switch {
	case strings.HasSuffix(unit, "/s"):
		return true, true
	case strings.HasSuffix(unit, "-s"):
		return false, true
	}
	return false, false
}

// render prints one table per group, units as columns, each value followed by ours/it.
func render(w io.Writer, results []result) {
	var groups []string
	byGroup := map[string][]result{}
	for _, r := range results {
		if _, ok := byGroup[r.group]; !ok {
			groups = append(groups, r.group)
		}
		byGroup[r.group] = append(byGroup[r.group], r)
	}
	for _, g := range groups {
		rows := byGroup[g]
		units := unitsOf(rows)
		best := oursBest(rows, units)
		if len(best) == 0 {
			// A group of limits only (say BackupPeers/scale-135/local) compares with our
			// figures of its sibling groups (BackupPeers/scale-135/s3).
			parent := parentOf(g)
			var siblings []result
			for _, r := range results {
				if parentOf(r.group) == parent {
					siblings = append(siblings, r)
				}
			}
			best = oursBest(siblings, units)
		}
		fmt.Fprintf(w, "\n%s\n\n| tool |", strings.TrimPrefix(g, "Benchmark"))
		for _, u := range units {
			fmt.Fprintf(w, " %s | ours/it |", u)
		}
		fmt.Fprint(w, "\n|---|")
		fmt.Fprint(w, strings.Repeat("---:|---:|", len(units)))
		fmt.Fprintln(w)
		for _, r := range rows {
			fmt.Fprintf(w, "| %s |", r.tool)
			for _, u := range units {
				v, ok := r.metrics[u]
				if !ok {
					fmt.Fprint(w, "  |  |")
					continue
				}
				fmt.Fprintf(w, " %s | %s |", num(v), ratio(best, u, v))
			}
			fmt.Fprintln(w)
		}
	}
}

// oursBest is our best value per unit among rows.
func oursBest(rows []result, units []string) map[string]float64 {
	best := map[string]float64{}
	for _, u := range units {
		higher, _ := higherIsBetter(u)
		for _, r := range rows {
			v, ok := r.metrics[u]
			if !ok || !isOurs(r.tool) {
				continue
			}
			if b, seen := best[u]; !seen || (higher && v > b) || (!higher && v < b) {
				best[u] = v
			}
		}
	}
	return best
}

// ratio is how many times better our best is than v ("" when we have no figure to compare).
func ratio(best map[string]float64, unit string, v float64) string {
	b, ok := best[unit]
	higher, known := higherIsBetter(unit)
	if !ok || !known || v == 0 || b == 0 {
		return ""
	}
	if higher {
		return fmt.Sprintf("%.2fx", b/v)
	}
	return fmt.Sprintf("%.2fx", v/b)
}

func unitsOf(rows []result) []string {
	seen := map[string]bool{}
	var units []string
	for _, r := range rows {
		for u := range r.metrics {
			if !seen[u] {
				seen[u] = true
				units = append(units, u)
			}
		}
	}
	sort.Strings(units)
	return units
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
