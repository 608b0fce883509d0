package safefs

import (
	"errors"
	"io/fs"
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

// Root reads configuration postgres can change (AnyOwner) and its own state (Private) by full
// path: a link planted at the end of the path is never followed, a FIFO planted there does not
// block the reader, and Private refuses a file someone else owns or can write.
func TestReadFileRefusesWhatIsPlanted(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(secret, link)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, check := range []Check{AnyOwner, Private} {
		if b, err := ReadFile(secret, check); err != nil || string(b) != "root only" {
			t.Errorf("check %d: regular file: %q %v", check, b, err)
		}
		if b, err := ReadFile(link, check); err == nil || !InTheWay(err) {
			t.Errorf("check %d: read %q through a link (%v)", check, b, err)
		}
		if _, err := ReadFile(fifo, check); err == nil {
			t.Errorf("check %d: read a FIFO", check)
		}
		if _, err := ReadFile(filepath.Join(dir, "missing"), check); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("check %d: a missing file: %v, want fs.ErrNotExist", check, err)
		}
	}

	// Private: writable by the group or others, or someone else's, is refused.
	os.Chmod(secret, 0o620)
	if _, err := ReadFile(secret, Private); err == nil {
		t.Error("Private read a group-writable file")
	}
	if _, err := ReadFile(secret, AnyOwner); err != nil {
		t.Errorf("AnyOwner refused a group-writable file: %v", err)
	}
	os.Chmod(secret, 0o600)
	if os.Geteuid() == 0 {
		if err := os.Chown(secret, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(secret, Private); err == nil {
			t.Error("Private read a file of nobody's")
		}
	}

	// A file larger than what is read so is refused, not cut short.
	big := filepath.Join(dir, "big")
	if f, err := os.Create(big); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(maxRead + 1)
		f.Close()
	}
	if _, err := ReadFile(big, AnyOwner); err == nil {
		t.Error("read a file larger than the limit")
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
