package postgres

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 15 Low 9: copies moved aside used to pile up until the volume filled; only the
// newest of each kind stays.
func TestMoveAsideKeepsTheNewestPerKind(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "main")
	old := []string{data + ".moved-20260101T000000Z", data + ".moved-restore-20260102T000000Z", data + ".moved-clone-20260103T000000Z"}
	for _, p := range append(old, data) {
		os.MkdirAll(filepath.Join(p, "base"), 0o700)
		os.WriteFile(filepath.Join(p, "base", "f"), make([]byte, 1000), 0o600)
	}
	to, err := MoveAsideAs(data, "restore")
	if err != nil {
		t.Fatal(err)
	}
	list, err := ListMovedAside(data)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range list {
		got[m.Kind] = m.Path
	}
	if len(list) != 3 || got["restore"] != to || got[""] != old[0] || got["clone"] != old[2] {
		t.Errorf("kept %+v, want the legacy copy, the clone copy and the new restore copy %s", list, to)
	}
	if _, err := os.Stat(old[1]); !os.IsNotExist(err) {
		t.Errorf("the older restore copy is still there: %v", err)
	}
	if list[len(list)-1].Path != to || time.Since(list[len(list)-1].Time) > time.Minute {
		t.Errorf("newest copy %+v", list[len(list)-1])
	}
	if n, err := DirSize(to); err != nil || n != 1000 {
		t.Errorf("size %d %v", n, err)
	}
}
