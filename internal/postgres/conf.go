package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/safefs"
)

// CharmConfName is the include file the charm owns in the cluster's conf.d.
// Debian's postgresql.conf ends with include_dir 'conf.d', so its settings
// override the defaults written by pg_createcluster.
const CharmConfName = "juju-charm.conf"

// WriteConf renders settings into conf.d/<name> of the cluster atomically
// and reports whether the file changed. The file is readable by everyone,
// like Debian's postgresql.conf: never put secrets into settings.
func WriteConf(c *Cluster, name string, s pgconf.Settings) (bool, error) {
	data, err := pgconf.RenderConf("Written by the PostgreSQL charm; changes are overwritten.", s)
	if err != nil {
		return false, fmt.Errorf("render %s: %w", name, err)
	}
	dir := filepath.Join(c.ConfDir, "conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("write %s: %w", name, err)
	}
	return writeFileAtomic(filepath.Join(dir, name), data, 0o644, true)
}

// WriteCharmConf writes the charm's include file, conf.d/juju-charm.conf.
func WriteCharmConf(c *Cluster, s pgconf.Settings) (bool, error) {
	return WriteConf(c, CharmConfName, s)
}

// ReadConf reads a postgresql.conf-syntax file of the cluster's conf.d
// (missing file: no settings).
func ReadConf(c *Cluster, name string) (pgconf.Settings, error) {
	data, err := safefs.ReadFile(filepath.Join(c.ConfDir, "conf.d", name), safefs.AnyOwner)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pgconf.ParseFile(string(data))
}

// InvalidSettingsError lists every rejected setting.
type InvalidSettingsError struct {
	Problems []*pgconf.SettingError
}

func (e *InvalidSettingsError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Error())
	}
	return "invalid postgresql.conf settings: " + strings.Join(parts, "; ")
}

// ApplyCharmConf validates settings against the running server, writes
// conf.d/juju-charm.conf, has the server re-read its files and returns the
// settings that wait for a restart. Settings the server refuses leave the
// previous file in place (*InvalidSettingsError), so a bad extra_pg_conf
// never stops PostgreSQL at its next start.
func (db *DB) ApplyCharmConf(ctx context.Context, s pgconf.Settings) (changed bool, pendingRestart []string, err error) {
	if err := db.Validate(ctx, s); err != nil {
		return false, nil, err
	}
	path := filepath.Join(db.cluster.ConfDir, "conf.d", CharmConfName)
	// What is read here is written back if the server refuses the new file: never through a
	// link postgres planted in its directory, which would hand root-only files to postgres.
	old, err := safefs.ReadFile(path, safefs.AnyOwner)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, nil, fmt.Errorf("apply %s: %w", CharmConfName, err)
	}
	changed, err = WriteCharmConf(db.cluster, s)
	if err != nil {
		return false, nil, err
	}
	if changed {
		problems, err := db.FileSettingErrors(ctx)
		if err == nil && len(problems) > 0 {
			err = &InvalidSettingsError{Problems: []*pgconf.SettingError{{Name: "configuration files", Msg: strings.Join(problems, "; ")}}}
		}
		if err != nil {
			if old != nil {
				_, _ = writeFileAtomic(path, old, 0o644, true)
			} else {
				_ = os.Remove(path)
			}
			return false, nil, err
		}
	}
	if !changed {
		// Nothing to reload: a reload on every hook would only wake the server.
		pending, err := db.PendingRestart(ctx)
		return false, pending, err
	}
	pending, err := db.ReloadConf(ctx)
	return changed, pending, err
}
