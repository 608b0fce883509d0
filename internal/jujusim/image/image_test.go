package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecipeHash(t *testing.T) {
	base := Recipe{Base: "debian@12", Packages: []string{"postgresql-15", "python3"}, Mirror: "http://deb.debian.org/debian"}
	h1, err := base.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if len(h1) != 16 {
		t.Errorf("hash %q: want 16 hex digits", h1)
	}
	same := Recipe{Packages: []string{"python3", "postgresql-15,python3"}, Mirror: "http://deb.debian.org/debian"}
	if h2, _ := same.Hash(); h2 != h1 {
		t.Errorf("same recipe in another order (and the default base) hashes to %s, want %s", h2, h1)
	}
	for name, r := range map[string]Recipe{
		"more packages": {Base: "debian@12", Packages: []string{"postgresql-15", "python3", "git"}, Mirror: base.Mirror},
		"other mirror":  {Base: "debian@12", Packages: base.Packages, Mirror: "http://ftp.de.debian.org/debian"},
	} {
		if h, _ := r.Hash(); h == h1 {
			t.Errorf("%s: hash unchanged (%s)", name, h)
		}
	}
	for _, bad := range []Recipe{{Base: "ubuntu@22.04"}, {Packages: []string{"rm -rf /"}}, {Packages: []string{"x;y"}}, {Mirror: "ftp://x"}} {
		if _, err := bad.Hash(); err == nil {
			t.Errorf("recipe %+v accepted", bad)
		}
	}
	if d := Default(); !strings.Contains(strings.Join(d.Packages, " "), "postgresql-15") || !strings.Contains(strings.Join(d.Packages, " "), "python3-websocket") {
		t.Errorf("default recipe lacks the charm's packages: %v", d.Packages)
	}
}

// TestDefaultImage builds the default image into the shared cache (once per host, about a
// minute) and checks what machines rely on.
func TestDefaultImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a machine image: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("building a machine image needs root")
	}
	if m := Missing(); len(m) > 0 {
		t.Skipf("building a machine image needs %v (tests/setup/jujusim.sh installs them)", m)
	}
	ctx := context.Background()
	var log bytes.Buffer
	img, err := Ensure(ctx, CacheDir(), Default(), &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("image %s\n%s", img.Dir, log.String())
	root := img.Root()
	for _, f := range []string{"lib/systemd/systemd", "usr/bin/systemctl", "usr/bin/pg_ctlcluster", "usr/lib/postgresql/15/bin/postgres",
		"usr/bin/python3", "usr/sbin/cron", "bin/ip", "usr/bin/dbus-daemon", LocalRepo[1:] + "/Packages"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("image lacks %s: %v", f, err)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/machine-id")); len(data) != 0 {
		t.Errorf("image has a machine-id (%q): every machine would share it", data)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/policy-rc.d")); err == nil {
		t.Error("image keeps the build's policy-rc.d: no service would start in machines")
	}
	if entries, _ := filepath.Glob(filepath.Join(root, "etc/postgresql/*/*")); len(entries) > 0 {
		t.Errorf("image holds PostgreSQL clusters %v; charms create their own", entries)
	}
	idx, err := os.ReadFile(filepath.Join(root, LocalRepo, "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"postgresql-15", "systemd", "python3-yaml"} {
		if !bytes.Contains(idx, []byte("\nPackage: "+p+"\n")) && !bytes.HasPrefix(idx, []byte("Package: "+p+"\n")) {
			t.Errorf("local apt source lacks %s", p)
		}
	}
	for _, u := range []string{"apt-daily.timer", "getty@.service"} {
		if l, _ := os.Readlink(filepath.Join(root, "etc/systemd/system", u)); l != "/dev/null" {
			t.Errorf("%s is not masked", u)
		}
	}
	// The same recipe again is the cached image, not a new build.
	start := time.Now()
	again, err := Build(ctx, CacheDir(), Default(), nil)
	if err != nil || again.Dir != img.Dir {
		t.Fatalf("second build: %v, %v (want %s)", again, err, img.Dir)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second build of an unchanged recipe took %s: it rebuilt", d)
	}
}
