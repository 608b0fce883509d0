package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	got := Commands()
	sort.Strings(got)
	for _, want := range []string{"backup-delete", "backup-fetch", "backup-list", "backup-push", "delete", "restore", "verify",
		"wal-fetch", "wal-prefetch", "wal-push", "wal-verify"} {
		if i := sort.SearchStrings(got, want); i == len(got) || got[i] != want {
			t.Errorf("Commands() lacks %s: %v", want, got)
		}
	}
}

func runCLI(name string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), name, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeCfg(t *testing.T, mode os.FileMode, body map[string]any) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.json")
	b, _ := json.Marshal(body)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func TestUsageAndConfigErrors(t *testing.T) {
	if code, _, _ := runCLI("no-such"); code != ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, errs := runCLI("wal-fetch", "onlyone"); code != ExitUsage || !strings.Contains(errs, "usage") {
		t.Errorf("wal-fetch with one argument: exit %d %s", code, errs)
	}
	if code, _, _ := runCLI("delete", "keep", "3"); code != ExitUsage {
		t.Errorf("delete keep: exit %d", code)
	}
	if code, _, _ := runCLI("delete", "retain", "0"); code != ExitUsage {
		t.Errorf("delete retain 0: exit %d", code)
	}
	open := writeCfg(t, 0o644, map[string]any{"wal_e_storage_uri": "file:///tmp/x"})
	if code, _, errs := runCLI("backup-list", "--config", open); code != ExitFailure || !strings.Contains(errs, "0600") {
		t.Errorf("world-readable config: exit %d %s", code, errs)
	}
	bad := writeCfg(t, 0o600, map[string]any{"wal_e_storage_uri": "file:///tmp/x", "wal_e_compression": "lzma"})
	if code, _, errs := runCLI("backup-list", "--config", bad); code != ExitFailure || !strings.Contains(errs, "lzma") {
		t.Errorf("bad compression: exit %d %s", code, errs)
	}
	none := writeCfg(t, 0o600, map[string]any{})
	if code, _, errs := runCLI("backup-list", "--config", none); code != ExitFailure || !strings.Contains(errs, "wal_e_storage_uri") {
		t.Errorf("no URI: exit %d %s", code, errs)
	}
}

func TestFetchNotFoundAndEmptyList(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCfg(t, 0o600, map[string]any{"wal_e_storage_uri": "file://" + filepath.Join(dir, "arch")})
	// Flags after the positional arguments work too.
	code, _, errs := runCLI("wal-fetch", "000000010000000000000001", filepath.Join(dir, "x"), "--config", cfg, "--prefetch", "0")
	if code != ExitNotFound {
		t.Errorf("missing segment: exit %d, want %d: %s", code, ExitNotFound, errs)
	}
	code, out, errs := runCLI("backup-list", "--json", "--config", cfg)
	if code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty archive list: exit %d %q %s", code, out, errs)
	}
	code, _, errs = runCLI("backup-fetch", "--config", cfg, "LATEST", filepath.Join(dir, "restore"))
	if code != ExitFailure || !strings.Contains(errs, "no complete backup") {
		t.Errorf("fetch LATEST of an empty archive: exit %d %s", code, errs)
	}
	code, _, errs = runCLI("wal-push", "--config", cfg, filepath.Join(dir, "not-a-wal-name"))
	if code != ExitFailure {
		t.Errorf("wal-push of a bad name: exit %d %s", code, errs)
	}
}

func TestParseTargetTime(t *testing.T) {
	want := time.Date(2026, 11, 24, 7, 0, 1, 500000000, time.UTC)
	for _, s := range []string{"2026-11-24 07:00:01.5+00", "2026-11-24T07:00:01.5Z", "2026-11-24 07:00:01.5", "2026-11-24 09:00:01.5+02:00",
		"2026-11-24 08:00:01.5+01"} {
		got, err := ParseTargetTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTargetTime(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01"} {
		if _, err := ParseTargetTime(bad); err == nil {
			t.Errorf("ParseTargetTime(%q) accepted", bad)
		}
	}
}
