#!/bin/bash
# make bench, failover part: TestBenchFailover on three jujusim units (root, and the machine
# set-up of tests/setup with the machine image). pgbench TPS and mean latency with
# synchronous_standbys 0 and 1 in one run and their ratio, then the time from a crash of the
# primary's machine to the first acknowledged write on the new primary. About 3 minutes.
#   BENCH_FAILOVER_T=20  seconds of each pgbench run
# The test's whole log goes to bench-failover.out; the table is printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$HOME/go/bin:/usr/local/bin:$PATH
if [[ $(id -u) != 0 ]]; then
	echo "bench: failover skipped: it needs root to run jujusim machines (systemd containers)" >&2
	exit 0
fi
out=${BENCH_FAILOVER_OUT:-bench-failover.out}
echo "bench: failover, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); log in $out" >&2
BENCH_FAILOVER=1 go test -count=1 -v -run '^TestBenchFailover$' -timeout 20m ./tests/e2e/ >"$out" 2>&1
rc=$?
grep -E '^(failover bench:|\|)' "$out"
if ((rc)); then
	tail -40 "$out" >&2
fi
exit $rc
