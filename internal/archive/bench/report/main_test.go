package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkWALPushPeers/s3/ours-lz4-2         	       1	2000000000 ns/op	        40.00 segments/s	       671.0 MB/s
BenchmarkWALPushPeers/s3/ours-lz4-one-by-one-2 	       1	4000000000 ns/op	        20.00 segments/s	       335.5 MB/s
BenchmarkWALPushPeers/s3/pgbackrest-lz4-sync-2	       1	8000000000 ns/op	        10.00 segments/s	       167.8 MB/s
--- SKIP: BenchmarkWALPushPeers/s3/barman-cloud
BenchmarkPITRPeers/s3/ours-2 	       1	1 ns/op	        5.000 replay-s	        20.00 total-s
BenchmarkPITRPeers/s3/pgbackrest-2 	       1	1 ns/op	        10.00 replay-s	        30.00 total-s
BenchmarkPITRPeers/s3/limit-x-2 	       1	1 ns/op	        1.000 replay-s
BenchmarkPITRPeers/local/limit-y-2 	       1	1 ns/op	        2.000 replay-s
BenchmarkBackupPeers/scale-135/s3/ours-2 	       1	1 ns/op	       400.0 push-MB/s	        90.00 push-peak-RSS-MB
BenchmarkBackupPeers/scale-135/local/limit-disk-read-2 	       1	1 ns/op	       800.0 push-MB/s
BenchmarkBackupPeers/scale-540/s3/ours-2 	       1	1 ns/op	       200.0 push-MB/s	        91.00 push-peak-RSS-MB
BenchmarkBackupPeers/scale-540/local/limit-disk-read-2 	       1	1 ns/op	       800.0 push-MB/s
PASS
`

func TestReport(t *testing.T) {
	rs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 11 {
		t.Fatalf("parsed %d results, want 11: %+v", len(rs), rs)
	}
	if rs[1].tool != "ours-lz4-one-by-one" || rs[1].group != "BenchmarkWALPushPeers/s3" {
		t.Errorf("name split: %+v", rs[1])
	}
	var b strings.Builder
	render(&b, rs)
	out := b.String()
	for _, want := range []string{
		"| pgbackrest-lz4-sync | 168 | 4.00x | 10.0 | 4.00x |", // rate: ours best / it
		"| ours-lz4-one-by-one | 336 | 2.00x |",
		"| pgbackrest | 10.0 | 2.00x | 30.0 | 1.50x |", // durations: it / ours
		"| limit-x | 1.00 | 0.20x |  |  |",
		"| limit-y | 2.00 | 0.40x |",       // a group without ours compares with the benchmark's ours
		"| ours | 400 | 1.00x | 90.0 |  |", // no ratio for a unit that is neither rate nor duration
		"BackupPeers/scale-135/local\n\n| tool | push-MB/s | ours/it |\n|---|---:|---:|\n| limit-disk-read | 800 | 0.50x |", // ours at its own scale
		"BackupPeers/scale-540/local\n\n| tool | push-MB/s | ours/it |\n|---|---:|---:|\n| limit-disk-read | 800 | 0.25x |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
