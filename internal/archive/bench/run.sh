#!/bin/bash
# make bench: measures the archive engine against the peers that run here, in one run, and
# prints tables with ratios (ours/it: above 1x we are better). Needs root and the servers of
# tests/setup/stores.sh; installs the peers (pgBackRest 2.45, barman-cli-cloud 3.4) from Debian
# when they are missing. About 45 minutes on 2 cores. The benchmarks:
#   WALPushPeers   1 GiB bursts archived as PostgreSQL's archiver does, ours vs pgBackRest (sync,
#                  async with 2 and 4 processes) vs barman-cloud-wal-archive, local repository and
#                  S3 over TLS; peak RSS of one archive_command
#   BackupPeers    base backup and restore of a pgbench database at each BENCH_SCALE, same peers,
#                  S3 over TLS (ours also on a local file:// repository), beside the physical
#                  limits (disk read in 1 MiB and 8 KiB reads, loopback copy); peak RSS and CPU
#                  time per GB; rows in BENCH_ROUNDS interleaved rounds; BENCH_CPUPROFILE=PREFIX
#                  profiles each of our backup-push runs
#   WALPushInProcess  wal-push's work on 1 GiB bursts in one process, S3 over TLS, for profiles
#                  (BENCH_CPUPROFILE=FILE, BENCH_MEMPROFILE=FILE)
#   PITRPeers      base backup + BENCH_WAL_MB of WAL replayed to the end, same peers
#   WALPush, WALFetch, Backup, PITR   ours alone on every store (BENCH_STORES)
#   BENCH=regexp        which benchmarks (default: all; e.g. BENCH=Peers for the comparisons only)
#   BENCH_STORES=file,s3  stores of the per-store benchmarks (default: every installed one)
#   BENCH_TOOLS=regexp  which WALPushPeers tools take turns (repo/tool: "s3/(ours|pgbackrest)")
#   BENCH_ROUNDS=3      rounds of WALPushPeers (one 1 GiB burst per tool each); of BackupPeers
#                       (default 1: one backup and restore per row each)
#   BENCH_BASELINE=X    another build of ours as a peer ("baseline"): WALPushPeers takes a binary,
#                       BackupPeers a binary or a commit (built from git archive), e.g.
#                       BENCH_BASELINE=main BENCH='BackupPeers/scale-135/(s3|local)/(ours|baseline|limit-disk-read)'
#                       (group alternatives in parentheses: a bare | splits the whole pattern)
#   BENCH_SCALE=135     pgbench scales of the backup comparison, comma-separated (135: about
#                       2 GiB, 540: about 8 GiB); e.g. BENCH='BackupPeers//(s3|local)/(ours|limit-disk)'
#                       BENCH_SCALE=135,540 for ours and the disk only
#   BENCH_WAL_MB=1024   WAL replayed by the PITR benchmarks
# Raw `go test -bench` lines go to bench.out beside the tables.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH=/usr/local/go/bin:$HOME/go/bin:/usr/local/bin:$PATH

peers=(pgbackrest barman-cli-cloud python3-boto3)
missing=()
for p in "${peers[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})) && [[ $(id -u) == 0 ]]; then
	echo "bench: apt-get install ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

out=${BENCH_OUT:-bench.out}
echo "bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); raw lines in $out" >&2
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -timeout 90m ./internal/archive/bench/ | tee "$out"
go run ./internal/archive/bench/report "$out"
