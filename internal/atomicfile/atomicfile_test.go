package atomicfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), p, strings.NewReader("new"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}

	// A cancelled write leaves the old file, and no temporary file behind.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Write(ctx, p, strings.NewReader("half"), 0o600, nil); err == nil {
		t.Error("a cancelled write succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("after a cancelled write: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}

	// A link planted where the file goes is replaced, never followed.
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if changed, err := WriteIfChanged(link, []byte("keep"), 0o644, nil); err != nil || !changed {
		t.Errorf("WriteIfChanged over a link: %v %v", changed, err)
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Errorf("the link is still there: %v", fi.Mode())
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o600 {
		t.Errorf("the link's target was chmodded: %v", fi.Mode())
	}

	// Unchanged content: not rewritten, its mode corrected.
	os.Chmod(p, 0o644)
	if changed, err := WriteIfChanged(p, []byte("new"), 0o600, nil); err != nil || changed {
		t.Errorf("WriteIfChanged of the same content: %v %v", changed, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode not corrected: %v", fi.Mode())
	}
	if changed, err := WriteIfChanged(p, []byte("newer"), 0o600, nil); err != nil || !changed {
		t.Errorf("WriteIfChanged of new content: %v %v", changed, err)
	}
}
