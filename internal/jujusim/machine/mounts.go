package machine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// PrivateDirs are the directories every machine owns: what a PostgreSQL unit writes (cluster
// configuration, data, sockets, logs), cron entries, the Juju agent's directory and home directories.
// Everything else, /usr above all, is the host's.
var PrivateDirs = []string{
	"/etc/postgresql",
	"/var/lib/postgresql",
	"/var/run/postgresql",
	"/var/log/postgresql",
	"/srv",
	"/etc/cron.d",
	"/var/lib/juju",
	"/root",
	"/home",
}

// privateSource names the directory under Dir/fs that backs a private directory.
func privateSource(dir, target string) string {
	return filepath.Join(dir, "fs", strings.ReplaceAll(strings.Trim(target, "/"), "/", "_"))
}

// makePrivateDirs creates the machine's copies of PrivateDirs, empty but with the host's owner and
// mode (the Debian packages rely on them, e.g. /var/run/postgresql is postgres:postgres 2775).
// Mount points missing on the host are created there, since the root filesystem is shared.
func makePrivateDirs(dir string) error {
	for _, target := range PrivateDirs {
		uid, gid, mode := 0, 0, os.FileMode(0o755)
		if target == "/root" {
			mode = 0o700
		}
		st, err := os.Stat(target)
		switch {
		case err == nil && st.IsDir():
			sys := st.Sys().(*syscall.Stat_t)
			uid, gid = int(sys.Uid), int(sys.Gid)
			mode = st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("create mount point %s on the host: %w", target, err)
			}
		case err == nil:
			return fmt.Errorf("private directory %s: not a directory on the host", target)
		default:
			return fmt.Errorf("private directory %s: %w", target, err)
		}
		src := privateSource(dir, target)
		if err := os.MkdirAll(src, 0o700); err != nil {
			return fmt.Errorf("private directory %s: %w", target, err)
		}
		if err := os.Chown(src, uid, gid); err != nil {
			return fmt.Errorf("private directory %s: %w", target, err)
		}
		if err := os.Chmod(src, mode); err != nil {
			return fmt.Errorf("private directory %s: %w", target, err)
		}
	}
	return nil
}

// mount is one line of a mountinfo file.
type mount struct {
	Point  string
	FSType string
}

func readMounts(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var ms []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		ms = append(ms, mount{Point: unescapeMount(fields[4]), FSType: fields[sep+1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts %s: %w", path, err)
	}
	return ms, nil
}

// unescapeMount undoes the kernel's octal escaping of spaces, tabs, newlines and backslashes.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostMountsUnder lists the host's mount points at or below dir, deepest first (the order to
// unmount them in). A mount point listed twice (stacked mounts) appears twice.
func hostMountsUnder(dir string) ([]string, error) {
	ms, err := readMounts("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var pts []string
	for _, m := range ms {
		if under(m.Point, dir) {
			pts = append(pts, m.Point)
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return len(pts[i]) > len(pts[j]) })
	return pts, nil
}

func under(path, dir string) bool {
	dir = filepath.Clean(dir)
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// unmountAllUnder detaches every host mount at or below dir; it is how we make sure removing a
// machine's directory can never reach through a mount into something else.
func unmountAllUnder(dir string) error {
	for range 10 {
		pts, err := hostMountsUnder(dir)
		if err != nil {
			return err
		}
		if len(pts) == 0 {
			return nil
		}
		for _, p := range pts {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				return fmt.Errorf("unmount %s: %w", p, err)
			}
		}
	}
	pts, _ := hostMountsUnder(dir)
	return fmt.Errorf("mounts remain under %s: %s", dir, strings.Join(pts, ", "))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// unmountStrayNS detaches what a machine directory whose state file was lost may have left under
// root: namespace files and the private ns directory under them. Other mounts are not ours to touch.
func unmountStrayNS(root string) error {
	ms, err := readMounts("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var pts []string
	for _, m := range ms {
		if under(m.Point, root) && (m.FSType == "nsfs" || filepath.Base(m.Point) == "ns") {
			pts = append(pts, m.Point)
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return len(pts[i]) > len(pts[j]) })
	for _, p := range pts {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}
