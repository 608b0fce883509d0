package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchFailover is the failover benchmark of `make bench` (tests/e2e/bench-failover.sh),
// skipped unless BENCH_FAILOVER=1: performance is measured here and reported, never asserted.
// On three units on jujusim machines it runs pgbench (-c 4, BENCH_FAILOVER_T seconds, default
// 20, on the primary's machine over its socket) with synchronous_standbys=0 and then =1 in the
// same run, and reports TPS, mean latency and the ratio; then it crashes the primary's
// machine under a writer and reports the time from the crash to the first acknowledged
// write on the new primary.
func TestBenchFailover(t *testing.T) {
	if os.Getenv("BENCH_FAILOVER") != "1" {
		t.Skip("benchmark: run by make bench (BENCH_FAILOVER=1)")
	}
	secs := os.Getenv("BENCH_FAILOVER_T")
	if secs == "" {
		secs = "20"
	}
	s, primary, _, addrs := failoverSetup(t, "fo-bench", false)
	pgbench := func(args ...string) string {
		t.Helper()
		argv := append([]string{"runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pgbench"}, args...)
		return s.Exec(primary, argv...)
	}
	pgbench("-i", "-q", "-s", "10", "postgres")
	syncNames := func() string { return psql(s, primary, "SHOW synchronous_standby_names") }
	type result struct{ tps, lat float64 }
	run := func(n string) result {
		t.Helper()
		s.Run("config", "postgresql", "synchronous_standbys="+n)
		eventually(t, 60*time.Second, "synchronous_standbys="+n+" on "+primary, func() bool {
			settle(s)
			return (syncNames() == "") == (n == "0")
		})
		out := pgbench("-c", "4", "-j", "2", "-T", secs, "-n", "postgres")
		tps := regexp.MustCompile(`tps = ([0-9.]+) \(without`).FindStringSubmatch(out)
		lat := regexp.MustCompile(`latency average = ([0-9.]+) ms`).FindStringSubmatch(out)
		if tps == nil || lat == nil {
			t.Fatalf("pgbench with synchronous_standbys=%s printed no tps or latency:\n%s", n, out)
		}
		r := result{}
		r.tps, _ = strconv.ParseFloat(tps[1], 64)
		r.lat, _ = strconv.ParseFloat(lat[1], 64)
		t.Logf("synchronous_standbys=%s (%q): %.0f tps, %.2f ms", n, syncNames(), r.tps, r.lat)
		return r
	}
	async, quorum := run("0"), run("1")

	w := startWriter(addrs)
	eventually(t, 30*time.Second, "the writer's first rows", func() bool { return w.count() > 20 })
	crashed := time.Now()
	s.Run("crash", primary)
	waitWrites(t, s, w, addrs, 150*time.Second, "the crash of "+primary)
	took := w.firstWriteAfter(crashed)
	acked := w.stop()
	checkAcked(t, addrs, onlyPrimary(t, s, addrs, primary), acked)

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nfailover bench: pgbench -c 4 -j 2 -T %s, scale 10, 3 units on jujusim, load %s\n", secs, regexp.MustCompile(`^(\S+ \S+ \S+)`).FindString(string(load)))
	fmt.Printf("| measure | synchronous_standbys=0 | synchronous_standbys=1 | 1 vs 0 |\n|---|---|---|---|\n")
	fmt.Printf("| pgbench TPS | %.0f | %.0f | %.2fx |\n", async.tps, quorum.tps, quorum.tps/async.tps)
	fmt.Printf("| mean commit latency | %.2f ms | %.2f ms | %.2fx |\n", async.lat, quorum.lat, quorum.lat/async.lat)
	fmt.Printf("| crash of the primary to the first acknowledged write on the new primary | | %.1f s | |\n\n", took.Seconds())
}
