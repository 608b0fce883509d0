package postgres

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Copies of a data directory moved aside (by a restore, or a clone replacing a diverged
// standby) stay next to it as <dir>.moved-<kind>-<UTC time> until a later base backup makes
// them unnecessary. Only the newest of each kind is kept: they would fill the volume.

const movedTimeFormat = "20060102T150405Z"

// MovedAside is one kept copy.
type MovedAside struct {
	Path string
	Kind string // "restore", "clone"; "" for copies named before kinds existed
	Time time.Time
}

// MoveAside renames a data directory to <dir>.moved-<UTC time> and returns
// the new name (see MoveAsideAs).
func MoveAside(dataDir string) (string, error) { return MoveAsideAs(dataDir, "") }

// MoveAsideAs renames a data directory to <dir>.moved-<kind>-<UTC time>, returns the new
// name, and removes older copies of the same kind (never the one just made).
func MoveAsideAs(dataDir, kind string) (string, error) {
	if strings.ContainsAny(kind, "/-") {
		return "", fmt.Errorf("move %s aside: bad kind %q", dataDir, kind)
	}
	name := dataDir + ".moved-"
	if kind != "" {
		name += kind + "-"
	}
	to := name + time.Now().UTC().Format(movedTimeFormat)
	if err := os.Rename(dataDir, to); err != nil {
		return "", fmt.Errorf("move %s aside: %w", dataDir, err)
	}
	list, err := ListMovedAside(dataDir)
	if err != nil {
		return to, nil
	}
	for _, m := range list {
		if m.Kind == kind && m.Path != to {
			if err := os.RemoveAll(m.Path); err != nil {
				return to, fmt.Errorf("remove the older copy %s: %w", m.Path, err)
			}
		}
	}
	return to, nil
}

// ListMovedAside lists the copies kept beside dataDir, oldest first.
func ListMovedAside(dataDir string) ([]MovedAside, error) {
	matches, err := filepath.Glob(dataDir + ".moved-*")
	if err != nil {
		return nil, err
	}
	var out []MovedAside
	for _, p := range matches {
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		rest := strings.TrimPrefix(p, dataDir+".moved-")
		kind, stamp := "", rest
		if i := strings.LastIndexByte(rest, '-'); i >= 0 {
			kind, stamp = rest[:i], rest[i+1:]
		}
		t, err := time.Parse(movedTimeFormat, stamp)
		if err != nil {
			continue
		}
		out = append(out, MovedAside{Path: p, Kind: kind, Time: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// DirSize is the total size of the regular files under p (links are not followed).
func DirSize(p string) (int64, error) {
	var n int64
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}
