package archive

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchiveCommandShell runs the archive_command through /bin/sh the way PostgreSQL does
// (in the data directory, %p and %f replaced): a marker naming this archive answers without
// the binary; anything else runs the binary with the file's path.
func TestArchiveCommandShell(t *testing.T) {
	const name = "000000010000000000000007"
	for _, tc := range []struct {
		desc, uri, marker string
		wantBinary        bool
	}{
		{"no marker", "s3://bucket/pg", "", true},
		{"marker for this archive", "s3://bucket/pg", "s3://bucket/pg\n", false},
		{"marker for this archive, URI written differently", "s3://bucket/pg/", "s3://bucket/pg\n", false},
		{"marker for another archive", "s3://bucket/pg", "s3://bucket/other\n", true},
		{"marker naming a prefix of this archive", "s3://bucket/pg2", "s3://bucket/pg\n", true},
		{"empty marker", "s3://bucket/pg", "", true},
		{"quote in the URI", "file:///tmp/it's here", "file:///tmp/it's here\n", false},
		{"unparseable URI", "nope://x", "nope://x\n", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data := t.TempDir()
			markers := filepath.Join(data, "pg_wal", markerDir)
			if err := os.MkdirAll(markers, 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.marker != "" || tc.desc == "empty marker" {
				os.WriteFile(filepath.Join(markers, name), []byte(tc.marker), 0o600)
			}
			// The "binary" records its arguments, so the test sees whether and how it ran.
			bin := filepath.Join(t.TempDir(), "charm bin")
			calls := filepath.Join(t.TempDir(), "calls")
			os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >>'"+calls+"'\n"), 0o755)

			cmd := ArchiveCommand(bin, "/etc/x/archive.json", tc.uri)
			cmd = strings.NewReplacer("%p", "pg_wal/"+name, "%f", name).Replace(cmd)
			sh := exec.Command("/bin/sh", "-c", cmd)
			sh.Dir = data
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			} else if len(out) > 0 {
				t.Errorf("the command printed %q", out)
			}
			got, _ := os.ReadFile(calls)
			want := ""
			if tc.wantBinary {
				want = "wal-push --config /etc/x/archive.json pg_wal/" + name + "\n"
			}
			if string(got) != want {
				t.Errorf("binary calls %q, want %q (command: %s)", got, want, cmd)
			}
		})
	}
}

// TestArchiveCommandFailure: the binary's failure is the command's failure (PostgreSQL retries).
func TestArchiveCommandFailure(t *testing.T) {
	sh := exec.Command("/bin/sh", "-c", strings.ReplaceAll(ArchiveCommand("/bin/false", "", "s3://b/p"), "%", ""))
	sh.Dir = t.TempDir()
	if err := sh.Run(); err == nil {
		t.Fatal("archive_command succeeded although wal-push failed")
	}
}
