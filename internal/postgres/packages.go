package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ServerPackage is the Debian package holding the server (and, since
// PostgreSQL 10, the contrib extensions) of a major version.
func ServerPackage(version string) string { return "postgresql-" + version }

var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func checkVersion(version string) error {
	if !versionRE.MatchString(version) {
		return fmt.Errorf("invalid PostgreSQL major version %q", version)
	}
	return nil
}

// Installed reports whether the server package of version is installed.
// dpkg-query only reads the status database, so it never waits on or holds
// the dpkg lock.
func Installed(ctx context.Context, version string) (bool, error) {
	if err := checkVersion(version); err != nil {
		return false, err
	}
	out, err := run(ctx, cmdSpec{}, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", ServerPackage(version))
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && ce.ExitCode == 1 {
			return false, nil // unknown package
		}
		return false, fmt.Errorf("query package %s: %w", ServerPackage(version), err)
	}
	return strings.HasPrefix(string(out), "ii"), nil
}

// createclusterDropIn stops the package's postinst from creating a "main"
// cluster: the charm creates its own, with its locale, encoding, data
// checksums and data directory.
const createclusterDropIn = "/etc/postgresql-common/createcluster.d/juju-charm.conf"

// Install installs the server package of version unless it already is,
// without creating Debian's default cluster. The package index is refreshed
// only when apt does not know the package.
func Install(ctx context.Context, version string) error {
	if err := checkVersion(version); err != nil {
		return err
	}
	ok, err := Installed(ctx, version)
	if err != nil || ok {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(createclusterDropIn), 0o755); err != nil {
		return fmt.Errorf("install %s: %w", ServerPackage(version), err)
	}
	if _, err := writeFileAtomic(createclusterDropIn, []byte("# Written by the PostgreSQL charm: it creates its clusters itself.\ncreate_main_cluster = false\n"), 0o644, false); err != nil {
		return fmt.Errorf("install %s: %w", ServerPackage(version), err)
	}
	spec := cmdSpec{env: []string{"DEBIAN_FRONTEND=noninteractive"}}
	args := []string{"-o", "DPkg::Lock::Timeout=600", "-y", "-q", "install", ServerPackage(version)}
	if _, err := run(ctx, spec, "apt-get", args...); err == nil {
		return nil
	}
	if _, err := run(ctx, spec, "apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "update"); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if _, err := run(ctx, spec, "apt-get", args...); err != nil {
		return fmt.Errorf("install %s: %w", ServerPackage(version), err)
	}
	return nil
}

// DefaultVersion is the distribution's PostgreSQL major version: what
// postgresql-common says it supports, else the newest installed server.
func DefaultVersion(ctx context.Context) (string, error) {
	if out, err := run(ctx, cmdSpec{}, "/usr/share/postgresql-common/supported-versions"); err == nil {
		if v := newestVersion(strings.Fields(string(out))); v != "" {
			return v, nil
		}
	}
	entries, err := os.ReadDir("/usr/lib/postgresql")
	if err != nil {
		return "", fmt.Errorf("find the distribution's PostgreSQL version: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if v := newestVersion(names); v != "" {
		return v, nil
	}
	return "", errors.New("find the distribution's PostgreSQL version: none supported or installed")
}

func newestVersion(candidates []string) string {
	var vs []string
	for _, c := range candidates {
		if versionRE.MatchString(c) {
			vs = append(vs, c)
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		a, _ := strconv.ParseFloat(vs[i], 64)
		b, _ := strconv.ParseFloat(vs[j], 64)
		return a < b
	})
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// BinDir holds the server programs of a major version.
func BinDir(version string) string { return filepath.Join("/usr/lib/postgresql", version, "bin") }

var fullVersionRE = regexp.MustCompile(`\(PostgreSQL\) ([0-9]+(\.[0-9]+)*)`)

// FullVersion is the installed server's version ("15.18"), as shown in
// application-version and status messages.
func FullVersion(ctx context.Context, version string) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	out, err := run(ctx, cmdSpec{}, filepath.Join(BinDir(version), "postgres"), "--version")
	if err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	m := fullVersionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("server version: unexpected output %q", strings.TrimSpace(string(out)))
	}
	return m[1], nil
}
