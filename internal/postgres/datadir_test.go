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
func TestConfigReadsRefuseLinks(t *testing.T) {
	dir := t.TempDir()
	c := &Cluster{Version: "15", Name: "main", ConfDir: dir}
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("shared_buffers = '1GB'\n"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "conf.d", CharmConfName))
	if s, err := ReadConf(c, CharmConfName); err == nil {
		t.Errorf("read %v through a link", s)
	}
	certFile, keyFile := ServerCertFiles(c)
	os.Symlink(secret, certFile)
	os.Symlink(secret, keyFile)
	if cert, key, err := ReadServerCert(c); err == nil {
		t.Errorf("read %q, %q through links", cert, key)
	}
	os.Rename(secret, filepath.Join(dir, "conf.d", "regular.conf"))
	if s, err := ReadConf(c, "regular.conf"); err != nil || len(s) != 1 {
		t.Errorf("regular file: %v %v", s, err)
	}
}
