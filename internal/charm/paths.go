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

// writeBeneath replaces dir/name with data (mode 0600, given to o); a link at either is
// replaced or refused, never followed.
func writeBeneath(dir, name string, data []byte, o *safefs.Owner) error {
	if err := safefs.CheckPath(dir); err != nil {
		return err
	}
	d, err := safefs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(name, data, 0o600, o)
}

// prepareTablespaces makes, as root, the empty locations of a backup's tablespaces that
// postgres will extract into: only beneath the storage (the archive is not trusted to name
// places on the machine), created with no link followed and given to o. It runs before
// anything is stopped, so that a refusal changes nothing.
func prepareTablespaces(b archive.Backup, storage string, o *safefs.Owner) error {
	if b.Sentinel.Spec == nil || len(b.Sentinel.Spec.Tablespaces) == 0 {
		return nil
	}
	if storage != "" {
		storage = filepath.Clean(storage)
	}
	var oids []string
	for oid := range b.Sentinel.Spec.Tablespaces {
		oids = append(oids, oid)
	}
	sort.Strings(oids)
	for _, oid := range oids {
		loc := strings.TrimSuffix(b.Sentinel.Spec.Tablespaces[oid].Location, "/")
		if storage == "" || safefs.CheckPath(loc) != nil || !safefs.Within(loc, storage) || loc == storage {
			return fmt.Errorf("backup %s has tablespace %s at %q, outside this unit's storage %s: restore it with the "+
				"archive tool's restore --tablespace %s=DIR instead", b.Name, oid, loc, orNone(storage), oid)
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
