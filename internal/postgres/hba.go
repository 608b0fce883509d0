package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/safefs"
)

// WriteHBA renders and atomically writes the cluster's pg_hba.conf (0640,
// postgres) and reports whether it changed. Reload to apply it; a running
// server keeps its previous rules when the new file does not parse, so check
// with DB.HBAErrors after writing.
func WriteHBA(c *Cluster, rules []hba.Rule) (bool, error) {
	data, err := hba.Render(rules)
	if err != nil {
		return false, err
	}
	return writeFileAtomic(filepath.Join(c.ConfDir, "pg_hba.conf"), data, 0o640, true)
}

// WriteIdent writes the cluster's pg_ident.conf with the juju map.
func WriteIdent(c *Cluster) (bool, error) {
	data := fmt.Sprintf("# Written by the PostgreSQL charm; changes are overwritten.\n"+
		"# MAPNAME\tSYSTEM-USERNAME\tPG-USERNAME\n%s\troot\tpostgres\n%s\tpostgres\tpostgres\n", hba.IdentMap, hba.IdentMap)
	return writeFileAtomic(filepath.Join(c.ConfDir, "pg_ident.conf"), []byte(data), 0o640, true)
}

// HBARejectedError means the server refused a rendered pg_hba.conf; the
// previous file was put back.
type HBARejectedError struct{ Problems []string }

func (e *HBARejectedError) Error() string {
	return "pg_hba.conf refused by the server: " + strings.Join(e.Problems, "; ")
}

// ApplyHBA writes pg_hba.conf for the running server this DB is connected
// to, has the server check it (pg_hba_file_rules) and reloads. A file the
// server refuses is replaced by the previous one (*HBARejectedError), so
// that a bad extra_pg_auth line never stops PostgreSQL at its next start.
func (db *DB) ApplyHBA(ctx context.Context, rules []hba.Rule) (bool, error) {
	path := filepath.Join(db.cluster.ConfDir, "pg_hba.conf")
	// Read without following a link postgres planted: see ApplyCharmConf.
	old, err := safefs.ReadFile(path, safefs.AnyOwner)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("apply pg_hba.conf: %w", err)
	}
	changed, err := WriteHBA(db.cluster, rules)
	if err != nil || !changed {
		return false, err
	}
	problems, err := db.HBAErrors(ctx)
	if err == nil && len(problems) == 0 {
		if _, err := db.conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return true, fmt.Errorf("apply pg_hba.conf: reload: %w", err)
		}
		return true, nil
	}
	if old != nil {
		if _, rerr := writeFileAtomic(path, old, 0o640, true); rerr != nil {
			return false, fmt.Errorf("apply pg_hba.conf: restore the previous file: %w", rerr)
		}
	}
	if err != nil {
		return false, fmt.Errorf("apply pg_hba.conf: %w", err)
	}
	return false, &HBARejectedError{Problems: problems}
}
