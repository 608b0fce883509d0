// Package image builds and caches the root filesystems jujusim machines boot: a Debian base
// debootstrapped once per recipe, with systemd, the packages the charms install, and a local
// apt source holding every package fetched at build time, so that a charm's own
// `apt-get install` succeeds inside a machine that cannot reach the outside world.
//
// An image is a directory under the cache (Dir, default /var/cache/jujusim/images, or
// $JUJUSIM_IMAGE_CACHE) named by the hash of its recipe:
//
//	<cache>/<hash>/root         the root filesystem (the read-only lower layer of every machine)
//	<cache>/<hash>/recipe.json  what was built
//	<cache>/<hash>/build.log    the build's output
//
// A recipe that did not change is never built again; a changed one gets a new directory.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// buildVersion changes whenever Build makes a different filesystem from the same recipe, so
// that caches of older builds are not reused.
const buildVersion = 1

// Recipe says what an image holds.
type Recipe struct {
	// Base is the distribution and release, Juju style: "debian@12".
	Base string `json:"base"`
	// Packages are installed on top of the base's (DefaultPackages).
	Packages []string `json:"packages,omitempty"`
	// Mirror is the Debian mirror (default: the one in the host's apt sources, else
	// deb.debian.org).
	Mirror string `json:"mirror,omitempty"`
}

// DefaultBase is the base of machines when none is given.
const DefaultBase = "debian@12"

// BasePackages are installed in every image: systemd as PID 1 and what a Juju machine has.
var BasePackages = []string{
	"systemd", "systemd-sysv", "dbus", "iproute2", "cron", "ca-certificates", "locales",
	"procps", "less", "netbase",
}

// DefaultPackages are what the charms of this repository install (the PostgreSQL server and
// client) and what Python charms written with the ops framework need.
var DefaultPackages = []string{
	"postgresql-15", "postgresql-client-15",
	"python3", "python3-yaml", "python3-websocket",
}

// Default is the recipe of the machines jujusim makes unless told otherwise.
func Default() Recipe {
	return Recipe{Base: DefaultBase, Packages: slices.Clone(DefaultPackages)}
}

var packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// suites maps the bases we know to Debian suites.
var suites = map[string]string{"debian@12": "bookworm"}

// Suite is the Debian suite of the recipe's base.
func (r Recipe) Suite() (string, error) {
	s, ok := suites[r.Base]
	if !ok {
		return "", fmt.Errorf("image base %q is not supported (supported: debian@12)", r.Base)
	}
	return s, nil
}

// Normalize fills defaults, sorts and de-duplicates packages and validates the recipe.
func (r Recipe) Normalize() (Recipe, error) {
	if r.Base == "" {
		r.Base = DefaultBase
	}
	if _, err := r.Suite(); err != nil {
		return r, err
	}
	if r.Mirror == "" {
		r.Mirror = hostMirror()
	}
	if !strings.HasPrefix(r.Mirror, "http://") && !strings.HasPrefix(r.Mirror, "https://") && !strings.HasPrefix(r.Mirror, "file:") {
		return r, fmt.Errorf("image mirror %q: want an http(s):// or file: URL", r.Mirror)
	}
	var pkgs []string
	for _, p := range r.Packages {
		for _, f := range strings.FieldsFunc(p, func(c rune) bool { return c == ',' || c == ' ' }) {
			if !packageRE.MatchString(f) {
				return r, fmt.Errorf("image package %q is not a Debian package name", f)
			}
			pkgs = append(pkgs, f)
		}
	}
	slices.Sort(pkgs)
	r.Packages = slices.Compact(pkgs)
	return r, nil
}

// Hash names the image the recipe makes: equal recipes (after Normalize) give equal hashes.
func (r Recipe) Hash() (string, error) {
	n, err := r.Normalize()
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(struct {
		Version int `json:"version"`
		Recipe
		Base []string `json:"base-packages"`
	}{buildVersion, n, BasePackages})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16], nil
}

// hostMirror is the Debian mirror of the host's apt sources, so that images come from where
// the host's packages do.
func hostMirror() string {
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			var url string
			switch {
			case strings.HasPrefix(line, "URIs:"):
				url = strings.TrimSpace(strings.TrimPrefix(line, "URIs:"))
			case strings.HasPrefix(line, "deb "):
				for _, f := range strings.Fields(line)[1:] {
					if !strings.HasPrefix(f, "[") && !strings.HasSuffix(f, "]") {
						url = f
						break
					}
				}
			}
			if url != "" && !strings.Contains(url, "security") && strings.HasSuffix(strings.TrimRight(url, "/"), "/debian") {
				return strings.Fields(url)[0]
			}
		}
	}
	return "http://deb.debian.org/debian"
}
