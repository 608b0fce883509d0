package charm

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pgcharm/postgresql/internal/archive"
	"github.com/pgcharm/postgresql/internal/safefs"
)

// Root acts on paths below directories postgres can write (the data directory's parent on
// the storage is postgres's; so is the data directory). These helpers open the last trusted
// directory and go on from there with no link followed, so that a link planted by postgres
// never turns a chown or a write by root into one elsewhere.

// makeOwnedDir creates p (checked: absolute, clean, no control characters) and gives it to o,
// refusing when a link is in its place.
func makeOwnedDir(p string, o *safefs.Owner) error {
	if err := safefs.CheckPath(p); err != nil {
		return err
	}
	parent, err := safefs.MkdirAllOpen(filepath.Dir(p), 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	d, err := parent.MkdirAll(filepath.Base(p), 0o700, o)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Chmod(0o700); err != nil {
		return err
	}
	return d.Chown(o)
}

// prepareTablespaces makes, as root, the empty locations of a backup's tablespaces that
// postgres will extract into: only beneath the storage (the archive is not trusted to name
// places on the machine), created with no link followed and given to o. It runs before
// anything is stopped, so that a refusal changes nothing.
func prepareTablespaces(b archive.Backup, storage string, mapped map[string]string, dataDir string, o *safefs.Owner) error {
	recorded := map[string]archive.TablespaceLocation{}
	if b.Sentinel.Spec != nil {
		recorded = b.Sentinel.Spec.Tablespaces
	}
	for _, oid := range sortedStrings(mapped) {
		if _, ok := recorded[oid]; !ok {
			return fmt.Errorf("tablespaces: backup %s has no tablespace %s", b.Name, oid)
		}
		dir := mapped[oid]
		if dir == dataDir || safefs.Within(dir, dataDir) || safefs.Within(dataDir, dir) {
			return fmt.Errorf("tablespaces: %s=%s: the data directory %s cannot hold a tablespace, nor lie within one", oid, dir, dataDir)
		}
		// An operator's choice: made (or taken, when empty) for postgres, with no link
		// followed. Root never gives postgres a directory that holds anything.
		if d, err := safefs.OpenDir(dir); err == nil {
			names, err := d.ReadDirNames()
			d.Close()
			if err != nil {
				return fmt.Errorf("tablespaces: %s=%s: %w", oid, dir, err)
			}
			if len(names) > 1 || (len(names) == 1 && names[0] != "lost+found") {
				return fmt.Errorf("tablespaces: %s=%s is not empty (holds %s); name a new or empty directory", oid, dir, names[0])
			}
		}
		if err := makeOwnedDir(dir, o); err != nil {
			return fmt.Errorf("tablespaces: %s=%s: %w", oid, dir, err)
		}
	}
	if len(recorded) == 0 {
		return nil
	}
	if storage != "" {
		storage = filepath.Clean(storage)
	}
	var oids []string
	for oid := range recorded {
		if _, ok := mapped[oid]; !ok {
			oids = append(oids, oid)
		}
	}
	sort.Strings(oids)
	for _, oid := range oids {
		loc := strings.TrimSuffix(recorded[oid].Location, "/")
		if storage == "" || safefs.CheckPath(loc) != nil || !safefs.Within(loc, storage) || loc == storage {
			return fmt.Errorf("backup %s has tablespace %s at %q, outside this unit's storage %s: map it to an empty "+
				"directory with tablespaces=%s=DIR", b.Name, oid, loc, orNone(storage), oid)
		}
		root, err := safefs.OpenDir(storage)
		if err != nil {
			return err
		}
		d, err := root.MkdirAll(strings.TrimPrefix(loc, storage+"/"), 0o700, o)
		root.Close()
		if err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
		err = d.Chown(o)
		d.Close()
		if err != nil {
			return fmt.Errorf("tablespace %s: %w", oid, err)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none attached)"
	}
	return s
}

// parseTablespaceMap reads wal-e-restore's tablespaces parameter: OID=DIR pairs separated
// by commas or spaces, each DIR absolute and clean, each OID a number given once.
func parseTablespaceMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		oid, dir, ok := strings.Cut(f, "=")
		if !ok || oid == "" || strings.Trim(oid, "0123456789") != "" {
			return nil, fmt.Errorf("tablespaces: %q is not OID=DIR (for example 16390=/srv/fast/ts1)", f)
		}
		if err := safefs.CheckPath(dir); err != nil || dir == "/" {
			return nil, fmt.Errorf("tablespaces: %s=%s: want an absolute, clean directory path", oid, dir)
		}
		if _, dup := out[oid]; dup {
			return nil, fmt.Errorf("tablespaces: tablespace %s is mapped twice", oid)
		}
		for other, d := range out {
			if d == dir || safefs.Within(d, dir) || safefs.Within(dir, d) {
				return nil, fmt.Errorf("tablespaces: %s=%s and %s=%s overlap; give each tablespace a directory of its own", other, d, oid, dir)
			}
		}
		out[oid] = dir
	}
	return out, nil
}
