package charm

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPartialCopy(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if partial, err := partialCopy(dir); err != nil || !partial {
		t.Errorf("PG_VERSION without pg_control: partial %v, %v", partial, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "global"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "global", "pg_control"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if partial, err := partialCopy(dir); err != nil || partial {
		t.Errorf("a whole database: partial %v, %v", partial, err)
	}
}
