package safefs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// An attacker who can write the directory plants links; nothing done through Dir may reach
// what they point to.
func TestPlantedLinksAreNeverFollowed(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	inside := filepath.Join(base, "inside")
	for _, d := range []string{outside, inside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.Symlink(outside, filepath.Join(inside, "dirlink"))
	os.Symlink(victim, filepath.Join(inside, "filelink"))
	os.Symlink("../outside", filepath.Join(inside, "rellink"))

	d, err := OpenDir(inside)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mustLoop := func(what string, err error) {
		t.Helper()
		if err == nil || !InTheWay(err) {
			t.Errorf("%s: %v, want a refusal to follow the link", what, err)
		}
	}
	_, err = d.Create("dirlink/owned", unix.O_WRONLY|unix.O_CREAT, 0o600, nil)
	mustLoop("create through a directory link", err)
	_, err = d.Create("rellink/owned", unix.O_WRONLY|unix.O_CREAT, 0o600, nil)
	mustLoop("create through a relative link", err)
	_, err = d.Create("filelink", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600, nil)
	mustLoop("truncate through a file link", err)
	_, err = d.MkdirAll("dirlink/a/b", 0o700, nil)
	mustLoop("mkdir through a link", err)
	_, err = d.OpenDir("dirlink")
	mustLoop("open a directory link", err)
	_, err = d.Open("filelink")
	mustLoop("open a file link", err)
	if err := d.Symlink("/etc", "dirlink/x", nil); err == nil {
		t.Error("symlink created through a directory link")
	}
	// WriteFile replaces the planted link itself.
	if err := d.WriteFile("filelink", []byte("signal"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim now holds %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(inside, "filelink")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("filelink is not a regular file now: %v %v", fi, err)
	}
	// ".." never leaves the directory: it is cleaned lexically beneath it.
	f, err := d.Create("../../escaped", unix.O_WRONLY|unix.O_CREAT, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(inside, "escaped")); err != nil {
		t.Errorf("../../escaped did not land inside: %v", err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside holds %d entries, want only the victim", len(entries))
	}
	if _, err := OpenDir(filepath.Join(inside, "dirlink")); err == nil {
		t.Error("OpenDir followed a link as its last component")
	}
}

func TestMkdirAllAndOwner(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sub, err := d.MkdirAll("a/b/c", 0o750, &Owner{UID: os.Getuid(), GID: os.Getgid()})
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	if err := d.Symlink("/nowhere", "a/b/link", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(d.Name(), "a/b/link")); got != "/nowhere" {
		t.Errorf("link target %q", got)
	}
	if err := d.Remove("a/b/link"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("a/b/c"); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/srv/pgdata/15/main", "/var/lib/postgresql/15/main", "/srv/with space/x", "/srv/it's"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "relative", "/srv/../etc", "/srv/x/", "/srv/a\n* * * * * root sh", "/srv/\x00", "/srv/\x7f", "/srv/\u0085", "/srv/\xff"} {
		if err := CheckPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if !Within("/srv/pgdata/ts", "/srv/pgdata") || Within("/srv/pgdata2", "/srv/pgdata") || Within("/x", "") {
		t.Error("Within")
	}
}
