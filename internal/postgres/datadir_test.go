package postgres

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// postgres owns the data directory's parent on the storage (storage/<version>), so it can
// put a link where the data directory goes; root making the data directory must not chown or
// chmod what the link names (it used to: os.Chown follows links).
func TestPrepareDataDirRefusesPlantedLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown to postgres)")
	}
	if _, _, err := UserIDs(); err != nil {
		t.Skip("needs the postgres user")
	}
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	os.Mkdir(victim, 0o755)
	parent := filepath.Join(base, "15")
	os.Mkdir(parent, 0o755)
	data := filepath.Join(parent, "main")
	if err := os.Symlink(victim, data); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(data); err == nil {
		t.Error("prepareDataDir accepted a link as the data directory")
	}
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target is now uid %d mode %o, want root's 755", st.Uid, fi.Mode().Perm())
	}
	for _, bad := range []string{base + "/a/../b", filepath.Join(parent, "x\n* * * * * root sh")} {
		if err := prepareDataDir(bad); err == nil {
			t.Errorf("prepareDataDir(%q) accepted", bad)
		}
	}
	// The ordinary case still works.
	os.Remove(data)
	if err := prepareDataDir(data); err != nil {
		t.Fatal(err)
	}
	uid, _, _ := UserIDs()
	if fi, err := os.Lstat(data); err != nil || !fi.IsDir() || int(fi.Sys().(*syscall.Stat_t).Uid) != uid || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v %v", fi, err)
	}
}

// Issue 15 Low 8: children (the server started by pg_ctlcluster above all) used to inherit
// the hook's environment, proxies with credentials included.
func TestChildrenGetAMinimalEnvironment(t *testing.T) {
	t.Setenv("https_proxy", "http://user:secret@proxy:3128")
	t.Setenv("JUJU_CHARM_HTTPS_PROXY", "http://user:secret@proxy:3128")
	out, err := run(context.Background(), cmdSpec{env: []string{"PGAPPNAME=x"}}, "env")
	if err != nil {
		t.Fatal(err)
	}
	env := string(out)
	if strings.Contains(env, "secret") || !strings.Contains(env, "PGAPPNAME=x") || !strings.Contains(env, "LC_ALL=C") ||
		!strings.Contains(env, "PATH=") {
		t.Errorf("child environment:\n%s", env)
	}
}

// Root reads the configuration files of a cluster (postgres's directory) without following
// a link: ApplyCharmConf and ApplyHBA put back what they read when the server refuses the new
// file, which through a planted link handed root-only files to postgres.
func TestReadNoFollowRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only"), 0o600)
	link := filepath.Join(dir, "juju-charm.conf")
	os.Symlink(secret, link)
	if b, err := readNoFollow(link); err == nil {
		t.Errorf("read %q through a link", b)
	}
	if b, err := readNoFollow(secret); err != nil || string(b) != "root only" {
		t.Errorf("regular file: %q %v", b, err)
	}
}
