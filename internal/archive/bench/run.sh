#!/bin/sh
# Measures wal-push and wal-fetch throughput of the archive engine against the test stores
# (file:// and whichever servers tests/setup/stores.sh installed). BENCH_STORES=file,s3 limits
# the stores, BENCH_SCALE the pgbench scale of BenchmarkBackup, BENCH_WAL_MB the WAL replayed by
# BenchmarkPITR. Prints Go benchmark lines with segments/s and MB/s.
# BenchmarkWALPushPeers compares with pgBackRest 2.45 archive-push on a posix repository (apt
# install pgbackrest); BenchmarkWALPushS3Peers with barman-cloud-wal-archive 3.4 on versitygw (apt
# install barman-cli-cloud python3-boto3). Both skip when the peer is not installed.
set -eu
cd "$(dirname "$0")/../../.."
exec go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -timeout 60m ./internal/archive/bench/
