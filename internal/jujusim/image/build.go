package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/flock"
)

// Image is a built image.
type Image struct {
	Dir    string // <cache>/<hash>
	Hash   string
	Recipe Recipe
}

// Root is the image's root filesystem.
func (i *Image) Root() string { return filepath.Join(i.Dir, "root") }

// CacheDir is where images live: $JUJUSIM_IMAGE_CACHE, else /var/cache/jujusim/images.
func CacheDir() string {
	if d := os.Getenv("JUJUSIM_IMAGE_CACHE"); d != "" {
		return d
	}
	return "/var/cache/jujusim/images"
}

// ErrNotBuilt is returned by Find for a recipe whose image is not in the cache.
var ErrNotBuilt = errors.New("machine image not built")

// Find returns the cached image of a recipe, or an error wrapping ErrNotBuilt.
func Find(cache string, r Recipe) (*Image, error) {
	r, err := r.Normalize()
	if err != nil {
		return nil, err
	}
	hash, err := r.Hash()
	if err != nil {
		return nil, err
	}
	img := &Image{Dir: filepath.Join(cache, hash), Hash: hash, Recipe: r}
	if _, err := os.Stat(filepath.Join(img.Dir, "recipe.json")); err != nil {
		return nil, fmt.Errorf("%w: %s (%s, packages %s); run `jujusim image build`", ErrNotBuilt, img.Dir, r.Base, strings.Join(r.Packages, " "))
	}
	return img, nil
}

// Tools are the host programs Build needs, with the Debian packages holding them.
var Tools = map[string]string{"debootstrap": "debootstrap", "dpkg-scanpackages": "dpkg-dev", "unshare": "util-linux", "chroot": "coreutils"}

// Missing lists the Debian packages Build needs that the host lacks.
func Missing() []string {
	var pkgs []string
	for tool, pkg := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			pkgs = append(pkgs, pkg)
		}
	}
	return pkgs
}

// Ensure returns the cached image of the recipe, building it first if needed. Concurrent
// callers (several test processes, say) wait for one build. Progress goes to log (may be nil).
func Ensure(ctx context.Context, cache string, r Recipe, log io.Writer) (*Image, error) {
	if img, err := Find(cache, r); err == nil {
		return img, nil
	} else if !errors.Is(err, ErrNotBuilt) {
		return nil, err
	}
	return Build(ctx, cache, r, log)
}

// Build builds the recipe's image unless the cache holds it already.
func Build(ctx context.Context, cache string, r Recipe, log io.Writer) (*Image, error) {
	return build(ctx, cache, r, log, false)
}

// Rebuild builds the recipe's image even if the cache holds it.
func Rebuild(ctx context.Context, cache string, r Recipe, log io.Writer) (*Image, error) {
	return build(ctx, cache, r, log, true)
}

func build(ctx context.Context, cache string, r Recipe, log io.Writer, force bool) (*Image, error) {
	if log == nil {
		log = io.Discard
	}
	r, err := r.Normalize()
	if err != nil {
		return nil, err
	}
	suite, _ := r.Suite()
	hash, err := r.Hash()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("build machine image: needs root (debootstrap, chroot)")
	}
	if m := Missing(); len(m) > 0 {
		return nil, fmt.Errorf("build machine image: install %s first (tests/setup/jujusim.sh does)", strings.Join(m, " "))
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	unlock, err := lock(filepath.Join(cache, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	img := &Image{Dir: filepath.Join(cache, hash), Hash: hash, Recipe: r}
	if _, err := os.Stat(filepath.Join(img.Dir, "recipe.json")); err == nil && !force {
		return img, nil
	}
	tmp := img.Dir + ".build"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	logFile, err := os.Create(filepath.Join(tmp, "build.log"))
	if err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	defer logFile.Close()
	out := io.MultiWriter(logFile, log)
	start := time.Now()
	fmt.Fprintf(out, "jujusim: building machine image %s (%s, %s) in %s\n", hash, r.Base, strings.Join(r.Packages, " "), tmp)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", buildScript, "build-image",
		filepath.Join(tmp, "root"), suite, r.Mirror, strings.Join(BasePackages, ","), strings.Join(r.Packages, " "), strings.Join(Masked, " "))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build machine image %s: %w (log: %s)", hash, err, filepath.Join(tmp, "build.log"))
	}
	data, err := json.MarshalIndent(struct {
		Recipe
		Hash    string    `json:"hash"`
		Built   time.Time `json:"built"`
		Version int       `json:"build-version"`
	}{r, hash, time.Now().UTC(), buildVersion}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "recipe.json"), append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	// An older build of the same recipe may still be the lower layer of running machines:
	// move it aside rather than delete files under them.
	if _, err := os.Stat(img.Dir); err == nil {
		old := fmt.Sprintf("%s.old-%d", img.Dir, time.Now().UnixNano())
		if err := os.Rename(img.Dir, old); err != nil {
			return nil, fmt.Errorf("build machine image: %w", err)
		}
	}
	if err := os.Rename(tmp, img.Dir); err != nil {
		return nil, fmt.Errorf("build machine image: %w", err)
	}
	fmt.Fprintf(out, "jujusim: machine image %s built in %s\n", hash, time.Since(start).Round(time.Second))
	return img, nil
}

// Masked are systemd units that have nothing to do in a jujusim machine and would slow its
// boot or fail in a container: consoles, timers of unattended maintenance (apt, fstrim,
// e2scrub), hardware services.
var Masked = []string{
	"getty@.service", "console-getty.service", "serial-getty@.service", "getty.target",
	"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
	"e2scrub_reap.service", "fstrim.timer", "systemd-pstore.service", "systemd-modules-load.service",
	"sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
	"dev-hugepages.mount", "dev-mqueue.mount", "systemd-remount-fs.service", "systemd-sysctl.service",
}

// LocalRepo is where an image keeps the packages it was built from, as an apt source.
const LocalRepo = "/var/local/jujusim-apt"

// buildScript: $1 root, $2 suite, $3 mirror, $4 base packages (comma separated), $5 packages,
// $6 units to mask.
const buildScript = `set -eu
R=$1 SUITE=$2 MIRROR=$3 BASE=$4 PKGS=$5 MASK=$6
REPO=` + LocalRepo + `
echo "== debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$BASE" "$SUITE" "$R" "$MIRROR"
security=$(echo "$MIRROR" | sed 's,/debian/*$,/debian-security,')
cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
EOF
# No service starts inside the build chroot, and the PostgreSQL packages create no cluster:
# a charm creates its own, as on a fresh cloud machine.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" > "$R/etc/postgresql-common/createcluster.d/jujusim-build.conf"
echo "en_US.UTF-8 UTF-8" >> "$R/etc/locale.gen"
echo "== apt-get install $PKGS"
unshare --mount --propagation private sh -c '
set -eu
R=$1; shift
mount -t proc proc "$R/proc"
chroot "$R" apt-get -q update
chroot "$R" apt-get -y -q dist-upgrade
chroot "$R" apt-get -y -q install "$@"
chroot "$R" locale-gen
' sh "$R" $PKGS
echo "== local apt source $REPO"
mkdir -p "$R$REPO"
mv "$R"/var/cache/apt/archives/*.deb "$R$REPO/"
(cd "$R$REPO" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && gzip -9kn Packages)
echo "deb [trusted=yes] file:$REPO ./" > "$R/etc/apt/sources.list"
rm -rf "$R"/var/lib/apt/lists/*
unshare --mount --propagation private sh -c 'mount -t proc proc "$1/proc" && chroot "$1" apt-get -q update && chroot "$1" apt-get clean' sh "$R"
echo "== trim"
rm -f "$R/usr/sbin/policy-rc.d" "$R/etc/postgresql-common/createcluster.d/jujusim-build.conf"
for u in $MASK; do ln -sf /dev/null "$R/etc/systemd/system/$u"; done
rm -f "$R/etc/systemd/system/getty.target.wants/getty@tty1.service"
# Every machine gets its own identity when it is made.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
# Machines reach nothing outside the host: no resolver.
printf '# jujusim machines have no DNS resolver\n' > "$R/etc/resolv.conf"
rm -rf "$R"/var/log/*.log "$R"/var/log/apt/* "$R/debootstrap"
echo "== done: $(du -sh "$R" | cut -f1)"
`

// lock takes an exclusive flock on path; the returned func releases it.
func lock(path string) (func(), error) { return flock.Exclusive(path, 0o644) }
