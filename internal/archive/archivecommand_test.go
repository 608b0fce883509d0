package archive

import (
	"fmt"
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

// TestRestoreCommandShell runs the restore_command through /bin/sh as recovery does: a
// prefetched segment is moved into place without the binary; otherwise the binary runs, and
// its exit status (74: not archived) is the command's.
func TestRestoreCommandShell(t *testing.T) {
	const name = "00000001000000000000002A"
	for _, tc := range []struct {
		desc       string
		prefetched bool
		exit       int
	}{
		{"prefetched", true, 0},
		{"not prefetched", false, 0},
		{"not archived", false, 74},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data := t.TempDir()
			prefetch := filepath.Join(data, "pg_wal", ".wal-g", "prefetch")
			os.MkdirAll(prefetch, 0o700)
			if tc.prefetched {
				os.WriteFile(filepath.Join(prefetch, name), []byte("segment"), 0o600)
			}
			os.WriteFile(filepath.Join(data, "pg_wal", "RECOVERYXLOG"), []byte("previous"), 0o600)
			bin := filepath.Join(t.TempDir(), "charm")
			calls := filepath.Join(t.TempDir(), "calls")
			os.WriteFile(bin, []byte(fmt.Sprintf("#!/bin/sh\necho \"$@\" >>'%s'\nexit %d\n", calls, tc.exit)), 0o755)

			cmd := RestoreCommand(bin, "/etc/x/archive.json", "s3://b/p")
			cmd = strings.NewReplacer("%p", "pg_wal/RECOVERYXLOG", "%f", name).Replace(cmd)
			sh := exec.Command("/bin/sh", "-c", cmd)
			sh.Dir = data
			out, err := sh.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit || len(out) > 0 {
				t.Fatalf("exit %d, output %q; want exit %d, no output (command: %s)", code, out, tc.exit, cmd)
			}
			got, _ := os.ReadFile(calls)
			if tc.prefetched {
				if len(got) > 0 {
					t.Errorf("the binary ran for a prefetched segment: %q", got)
				}
				if b, _ := os.ReadFile(filepath.Join(data, "pg_wal", "RECOVERYXLOG")); string(b) != "segment" {
					t.Errorf("RECOVERYXLOG holds %q, want the prefetched segment", b)
				}
				if _, err := os.Stat(filepath.Join(prefetch, name)); !os.IsNotExist(err) {
					t.Errorf("the prefetched copy is still there: %v", err)
				}
			} else if want := "wal-fetch --config /etc/x/archive.json --uri s3://b/p " + name + " pg_wal/RECOVERYXLOG\n"; string(got) != want {
				t.Errorf("binary calls %q, want %q", got, want)
			}
		})
	}
}
