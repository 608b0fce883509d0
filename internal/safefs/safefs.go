// Package safefs lets root create and change files inside a directory that others can write
// (a data directory owned by postgres, an archive being extracted) without ever following a
// symbolic link on the way: every lookup is openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS
// relative to an open directory, and every change is made through the file descriptor or with
// AT_SYMLINK_NOFOLLOW on the final name. A link planted anywhere on a path makes the operation
// fail (ELOOP) instead of redirecting it outside.
//
// It also reads files named by a full path without following a link at its end (OpenFile,
// ReadFile: configuration in postgres's directories, root's own private state), and checks
// paths before root writes them into a file, a chown or a command (CheckPath).
package safefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// Owner is a numeric owner given to what is created; nil leaves the creator's.
type Owner struct{ UID, GID int }

// Dir is an open directory; names passed to its methods are relative to it, slash-separated,
// and resolved without following any symbolic link and without leaving it.
type Dir struct {
	f    *os.File
	name string // for messages
}

// OpenDir opens the directory at path, refusing it when its last component is a symbolic
// link. Its parents are the caller's trust decision (they should be root's).
func OpenDir(p string) (*Dir, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), p), name: p}, nil
}

// Check is what OpenFile and ReadFile demand of a file beyond being a regular file reached
// without following a link.
type Check int

const (
	// AnyOwner accepts a file whoever owns it: a cluster's configuration, which postgres may
	// change anyway, read so that root never reads through a link postgres planted there.
	AnyOwner Check = iota
	// Private demands a file of the effective user's that nobody else (group, others) can
	// write: root's own state (the failover agent's configuration and report), which root
	// acts on and so must not take from anyone else.
	Private
)

// maxRead bounds ReadFile: the files read so are configuration, certificates and small
// reports, and a larger one is refused rather than cut short or held in memory.
const maxRead = 64 << 20

// OpenFile opens the regular file at p for reading. A symbolic link as its last component is
// refused (O_NOFOLLOW), and so is anything but a regular file: it is opened O_NONBLOCK, so a
// FIFO planted there is refused instead of blocking the reader. Its parents are the caller's
// trust decision, as for OpenDir. A missing file is fs.ErrNotExist.
func OpenFile(p string, check Check) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s: refused: not a regular file (%v)", p, fi.Mode().Type())
	case check == Private && !private(fi):
		err = fmt.Errorf("%s: refused: not a private regular file (owner and mode %v)", p, fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// private reports whether fi is the effective user's and writable by nobody else.
func private(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t) // what os.File.Stat gives, not unix.Stat_t
	return ok && st.Uid == uint32(os.Geteuid()) && fi.Mode().Perm()&0o022 == 0
}

// ReadFile reads the regular file at p as OpenFile opens it (no link followed, check
// applied), refusing one larger than 64 MiB.
func ReadFile(p string, check Check) ([]byte, error) {
	f, err := OpenFile(p, check)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRead+1))
	if err != nil {
		return nil, pathErr("read", p, err)
	}
	if len(data) > maxRead {
		return nil, fmt.Errorf("%s: refused: larger than %d MiB", p, maxRead>>20)
	}
	return data, nil
}

// MkdirAllOpen creates p (absolute) and its missing parents with perm, then opens it like
// OpenDir.
func MkdirAllOpen(p string, perm os.FileMode) (*Dir, error) {
	if err := os.MkdirAll(p, perm); err != nil {
		return nil, err
	}
	return OpenDir(p)
}

// Name is the path the directory was opened as (for messages).
func (d *Dir) Name() string { return d.name }

// Fd is the directory's file descriptor.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Chown gives the directory itself to o (nil: no change).
func (d *Dir) Chown(o *Owner) error {
	if o == nil {
		return nil
	}
	return pathErr("chown", d.name, unix.Fchown(d.Fd(), o.UID, o.GID))
}

// Chmod sets the directory's own permission bits.
func (d *Dir) Chmod(perm os.FileMode) error {
	return pathErr("chmod", d.name, unix.Fchmod(d.Fd(), uint32(perm.Perm())))
}

// ReadDirNames lists the directory.
func (d *Dir) ReadDirNames() ([]string, error) {
	f, err := d.reopen()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, pathErr("list", d.name, err)
	}
	return names, nil
}

func (d *Dir) reopen() (*os.File, error) {
	fd, err := unix.Openat2(d.Fd(), ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return nil, pathErr("open", d.name, err)
	}
	return os.NewFile(uintptr(fd), d.name), nil
}

func (d *Dir) join(rel string) string { return path.Join(d.name, rel) }

// clean turns rel into a relative name beneath the directory; "" and "." name the directory.
func clean(rel string) (string, error) {
	if strings.ContainsRune(rel, 0) {
		return "", fmt.Errorf("name %q holds a NUL byte", rel)
	}
	c := path.Clean("/" + rel)[1:]
	if c == "" {
		c = "."
	}
	return c, nil
}

// OpenDir opens the directory rel beneath d.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	c, err := clean(rel)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat2(d.Fd(), c, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return nil, pathErr("open", d.join(c), err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.join(c)), name: d.join(c)}, nil
}

// MkdirAll creates rel and its missing parents beneath d (perm; new ones given to o) and
// opens it. Existing components must be real directories.
func (d *Dir) MkdirAll(rel string, perm os.FileMode, o *Owner) (*Dir, error) {
	c, err := clean(rel)
	if err != nil {
		return nil, err
	}
	if sub, err := d.OpenDir(c); err == nil || !errors.Is(err, unix.ENOENT) {
		return sub, err
	}
	cur, err := d.OpenDir(".")
	if err != nil {
		return nil, err
	}
	for _, comp := range strings.Split(c, "/") {
		err := unix.Mkdirat(cur.Fd(), comp, uint32(perm.Perm()))
		created := err == nil
		if err != nil && !errors.Is(err, unix.EEXIST) {
			cur.Close()
			return nil, pathErr("mkdir", cur.join(comp), err)
		}
		next, err := cur.OpenDir(comp)
		cur.Close()
		if err != nil {
			return nil, err
		}
		if created {
			if err := next.Chown(o); err != nil {
				next.Close()
				return nil, err
			}
		}
		cur = next
	}
	return cur, nil
}

// parent opens the directory holding rel (creating it when mk) and returns rel's last name.
func (d *Dir) parent(rel string, mk bool, o *Owner) (*Dir, string, error) {
	c, err := clean(rel)
	if err != nil {
		return nil, "", err
	}
	if c == "." {
		return nil, "", fmt.Errorf("%s: the directory itself is not a file", d.name)
	}
	dir, base := path.Split(c)
	var p *Dir
	if mk {
		p, err = d.MkdirAll(dir, 0o700, o)
	} else {
		p, err = d.OpenDir(dir)
	}
	return p, base, err
}

// Create opens rel for writing with flag (O_CREAT, O_TRUNC, O_EXCL, ...) and perm, creating
// missing parent directories (0700, given to o). An existing symbolic link at rel is an error,
// never followed.
func (d *Dir) Create(rel string, flag int, perm os.FileMode, o *Owner) (*os.File, error) {
	p, base, err := d.parent(rel, true, o)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	how := &unix.OpenHow{Flags: uint64(flag | unix.O_NOFOLLOW | unix.O_CLOEXEC), Mode: uint64(perm.Perm()), Resolve: resolve}
	if flag&unix.O_CREAT == 0 {
		how.Mode = 0
	}
	fd, err := unix.Openat2(p.Fd(), base, how)
	if err != nil {
		return nil, pathErr("open", p.join(base), err)
	}
	f := os.NewFile(uintptr(fd), p.join(base))
	if o != nil {
		if err := f.Chown(o.UID, o.GID); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// Open opens rel for reading without following links.
func (d *Dir) Open(rel string) (*os.File, error) {
	c, err := clean(rel)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat2(d.Fd(), c, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return nil, pathErr("open", d.join(c), err)
	}
	return os.NewFile(uintptr(fd), d.join(c)), nil
}

// WriteFile replaces rel with data: whatever is at rel (a planted link included) is removed
// first, then a new file is created exclusively, given to o and synced.
func (d *Dir) WriteFile(rel string, data []byte, perm os.FileMode, o *Owner) error {
	if err := d.Remove(rel); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	f, err := d.Create(rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm, o)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Symlink creates rel as a symbolic link to target, replacing a file or link already there.
// The target is stored as data: nothing here ever resolves it.
func (d *Dir) Symlink(target, rel string, o *Owner) error {
	p, base, err := d.parent(rel, true, o)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := unix.Unlinkat(p.Fd(), base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return pathErr("remove", p.join(base), err)
	}
	if err := unix.Symlinkat(target, p.Fd(), base); err != nil {
		return pathErr("symlink", p.join(base), err)
	}
	if o != nil {
		return pathErr("chown", p.join(base), unix.Fchownat(p.Fd(), base, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW))
	}
	return nil
}

// Lchown gives rel itself (a link is not followed) to o.
func (d *Dir) Lchown(rel string, o *Owner) error {
	if o == nil {
		return nil
	}
	p, base, err := d.parent(rel, false, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	return pathErr("chown", p.join(base), unix.Fchownat(p.Fd(), base, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW))
}

// Remove removes the file, link or empty directory rel (a link, not what it points to).
func (d *Dir) Remove(rel string) error {
	p, base, err := d.parent(rel, false, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	err = unix.Unlinkat(p.Fd(), base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(p.Fd(), base, unix.AT_REMOVEDIR)
	}
	return pathErr("remove", p.join(base), err)
}

// InTheWay reports whether err means a symbolic link (or a file where a directory was
// expected, which is how a link shows when a directory is opened without following it) was in
// the way.
func InTheWay(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR)
}

func pathErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV):
		return &os.PathError{Op: op, Path: p, Err: fmt.Errorf("a symbolic link is in the way (refusing to follow it): %w", err)}
	case errors.Is(err, unix.ENOTDIR):
		return &os.PathError{Op: op, Path: p, Err: fmt.Errorf("a symbolic link or file is in the way of a directory (refusing to follow it): %w", err)}
	}
	return &os.PathError{Op: op, Path: p, Err: err}
}

// CheckPath accepts an absolute, clean path of printable UTF-8 without control characters:
// what root may write into a file it owns, chown, or pass to a command.
func CheckPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not UTF-8", p)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, path.Clean(p))
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("path %q holds a control character", p)
		}
	}
	return nil
}

// Within reports whether p (clean, absolute) is root or below it.
func Within(p, root string) bool {
	switch root {
	case "":
		return false
	case "/":
		return strings.HasPrefix(p, "/")
	}
	root = strings.TrimSuffix(root, "/")
	return p == root || strings.HasPrefix(p, root+"/")
}
