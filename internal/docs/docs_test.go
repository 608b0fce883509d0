package docs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql"
	"github.com/pgcharm/postgresql/internal/docs"
)

// TestReadmeMatchesYAML fails when config.yaml or actions.yaml changed without `make docs`.
func TestReadmeMatchesYAML(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := docs.Reference(postgresql.Config, postgresql.Actions, postgresql.ConfigOrder())
	if err != nil {
		t.Fatal(err)
	}
	want, err := docs.Splice(string(readme), ref)
	if err != nil {
		t.Fatal(err)
	}
	if want != string(readme) {
		t.Fatal("README.md's reference is out of date with config.yaml/actions.yaml: run `make docs`")
	}
	for _, opt := range postgresql.ConfigOrder() {
		if !strings.Contains(ref, "`"+opt+"`") {
			t.Errorf("option %s missing from the reference", opt)
		}
	}
	for _, act := range []string{"wal-e-backup", "wal-e-list-backups", "wal-e-restore", "switchover", "replication-pause", "replication-resume"} {
		if !strings.Contains(ref, "#### `"+act+"`") {
			t.Errorf("action %s missing from the reference", act)
		}
	}
}

func TestSpliceNeedsMarkers(t *testing.T) {
	if _, err := docs.Splice("no markers here", "x"); err == nil {
		t.Fatal("Splice accepted a README without markers")
	}
}
