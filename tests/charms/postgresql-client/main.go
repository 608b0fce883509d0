// Command postgresql-client is a small pgsql client charm for tests and the demo: it asks
// for a database over the db relation exactly as clients of the original PostgreSQL charm
// do, trusts the server's data only once the interface's gating rules hold, and writes
// ~/.pg_service.conf (root, and ubuntu where that user exists) with the service names the
// original client charm used: db_master, db_1, db:0_master, db:0_1, ...
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/pgsql"
	"github.com/pgcharm/postgresql/tests/charms/testcharm"
)

const endpoint = "db"

type config struct {
	Database   string `json:"database"`
	Roles      string `json:"roles"`
	Extensions string `json:"extensions"`
}

func main() { testcharm.Main("postgresql-client", run) }

// run reconciles on every hook: the request on each relation, then the service file
// from whatever the servers have granted.
func run(unit string) (goops.StatusName, string, error) {
	var cfg config
	if err := goops.GetConfig(&cfg); err != nil {
		return "", "", err
	}
	req := pgsql.ParseRequest(map[string]string{"database": cfg.Database, "roles": cfg.Roles, "extensions": cfg.Extensions})
	ids, err := testcharm.RelationIDs(endpoint)
	if err != nil {
		return "", "", err
	}
	services := map[string]pgsql.ConnString{}
	var waiting []string
	for _, id := range ids {
		ready, err := relation(unit, id, req, services)
		if err != nil {
			return "", "", fmt.Errorf("relation %s: %w", id, err)
		}
		if !ready {
			waiting = append(waiting, id)
		}
	}
	if err := writeServiceFiles(pgsql.ServiceFile(services)); err != nil {
		return "", "", err
	}
	switch {
	case len(ids) == 0:
		return goops.StatusBlocked, "Needs db relation", nil
	case len(waiting) > 0:
		return goops.StatusWaiting, "Waiting for the database on " + strings.Join(waiting, ", "), nil
	}
	return goops.StatusActive, "Ready", nil
}

// relation publishes the request on one relation and adds the services of the server
// units whose data passes the gating rules; it reports whether a master is among them.
func relation(unit, id string, req pgsql.Request, services map[string]pgsql.ConnString) (bool, error) {
	own, err := goops.GetUnitRelationData(id, unit)
	if err != nil {
		return false, err
	}
	// No secret here: the request only names a database, roles and extensions.
	if err := testcharm.SetChanged(id, false, own, req.Data()); err != nil {
		return false, err
	}
	nw, err := goops.GetNetwork(endpoint)
	if err != nil {
		return false, err
	}
	var egress []netip.Prefix
	for _, e := range nw.EgressSubnets {
		egress = append(egress, pgsql.ParsePrefixes(e)...)
	}
	units, err := goops.ListRelationUnits(id)
	if err != nil {
		return false, err
	}
	sort.Strings(units)
	var master pgsql.ConnString
	standbys := map[string]pgsql.ConnString{}
	for _, u := range units {
		if u == os.Getenv("JUJU_DEPARTING_UNIT") {
			continue
		}
		data, err := goops.GetUnitRelationData(id, u)
		if err != nil {
			return false, err
		}
		if !pgsql.Ready(req, unit, egress, data) {
			continue
		}
		if m := data["master"]; m != "" && master == nil {
			master = pgsql.ParseConnString(m)
		} else if m == "" && data["state"] == pgsql.StateMaster && master == nil {
			// Servers from before the master key: the master unit's own details.
			master = pgsql.Conn(data["host"], data["port"], data["database"], data["user"], data["password"])
		}
		for _, line := range strings.Split(data["standbys"], "\n") {
			if line = strings.TrimSpace(line); line != "" {
				c := pgsql.ParseConnString(line)
				standbys[c["host"]] = c
			}
		}
	}
	var sb []pgsql.ConnString
	for _, c := range standbys {
		sb = append(sb, c)
	}
	for name, c := range pgsql.Services(endpoint, id, master, sb) {
		services[name] = c
	}
	return master != nil, nil
}

// writeServiceFiles gives root, and the ubuntu user where it exists, the services: files
// readable by their owner only (they hold passwords), replaced atomically.
func writeServiceFiles(content string) error {
	if err := writePrivate("/root/.pg_service.conf", content, 0, 0); err != nil {
		return err
	}
	u, err := user.Lookup("ubuntu")
	if err != nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if _, err := os.Stat(u.HomeDir); err != nil {
		return nil
	}
	return writePrivate(filepath.Join(u.HomeDir, ".pg_service.conf"), content, uid, gid)
}

// writePrivate replaces path with content, 0600 and uid's.
func writePrivate(path, content string, uid, gid int) error {
	return atomicfile.Write(context.Background(), path, strings.NewReader(content), 0o600, &atomicfile.Owner{UID: uid, GID: gid})
}
