// Command database-client is a client charm for tests of the database relation: the
// requirer side of the postgresql_client interface, written as Canonical's
// data_interfaces library writes it (the leader sets database, requested-secrets and
// extra-user-roles in the application bag, and requested-secrets in its unit bag too),
// reading the credentials from the secret named by secret-user (or from the bag for a
// client that asked for no secrets), connecting to the primary, and recording what it
// got in /root/database-client.json (root only) for the tests.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gruyaume/goops"
	"github.com/jackc/pgx/v5"

	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/pgclient"
	"github.com/pgcharm/postgresql/tests/charms/testcharm"
)

const (
	endpoint  = "database"
	stateFile = "/root/database-client.json"
)

type config struct {
	Database                 string `json:"database"`
	ExtraUserRoles           string `json:"extra-user-roles"`
	RequestedSecrets         string `json:"requested-secrets"`
	ExternalNodeConnectivity bool   `json:"external-node-connectivity"`
}

// Got is what one relation gave this unit.
type Got struct {
	Bag         map[string]string `json:"bag"` // the server's application bag
	Credentials pgclient.Credentials
	Connected   string `json:"connected"` // "user@host:port/db" once a connection worked
	Error       string `json:"error,omitempty"`
}

func main() { testcharm.Main("database-client", run) }

func run(unit string) (goops.StatusName, string, error) {
	var cfg config
	if err := goops.GetConfig(&cfg); err != nil {
		return "", "", err
	}
	app, _, _ := strings.Cut(unit, "/")
	req := pgclient.Request{Database: cfg.Database, ExternalNodeConnectivity: cfg.ExternalNodeConnectivity}
	if req.Database == "" {
		req.Database = app
	}
	for _, r := range strings.Split(cfg.ExtraUserRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			req.ExtraUserRoles = append(req.ExtraUserRoles, r)
		}
	}
	if strings.TrimSpace(cfg.RequestedSecrets) != "" {
		parsed, err := pgclient.ParseRequest(map[string]string{pgclient.KeyRequestedSecrets: cfg.RequestedSecrets})
		if err != nil {
			return goops.StatusBlocked, err.Error(), nil
		}
		req.RequestedSecrets, req.SecretsKnown = parsed.RequestedSecrets, true
	}
	leader, err := goops.IsLeader()
	if err != nil {
		return "", "", err
	}
	ids, err := testcharm.RelationIDs(endpoint)
	if err != nil {
		return "", "", err
	}
	got := map[string]Got{}
	var waiting []string
	for _, id := range ids {
		g, err := relation(unit, leader, id, req)
		if err != nil {
			return "", "", fmt.Errorf("relation %s: %w", id, err)
		}
		got[id] = g
		if g.Connected == "" {
			waiting = append(waiting, id)
		}
	}
	if err := record(got); err != nil {
		return "", "", err
	}
	switch {
	case len(ids) == 0:
		return goops.StatusBlocked, "Needs database relation", nil
	case len(waiting) > 0:
		return goops.StatusWaiting, "Waiting for the database on " + strings.Join(waiting, ", "), nil
	}
	var conns []string
	for _, g := range got {
		conns = append(conns, g.Connected)
	}
	return goops.StatusActive, "Connected " + strings.Join(conns, ", "), nil
}

// relation writes the request (leader) and reads, then tries, what the server gave.
func relation(unit string, leader bool, id string, req pgclient.Request) (Got, error) {
	var g Got
	if leader {
		own, err := goops.GetAppRelationData(id, unit)
		if err != nil {
			return g, err
		}
		want := req.Data()
		if _, ok := want[pgclient.KeyExtraUserRoles]; !ok {
			want[pgclient.KeyExtraUserRoles] = "" // deleted when no longer asked for
		}
		if err := testcharm.SetChanged(id, true, own, want); err != nil {
			return g, err
		}
		if req.SecretsKnown {
			mine, err := goops.GetUnitRelationData(id, unit)
			if err != nil {
				return g, err
			}
			if err := testcharm.SetChanged(id, false, mine, map[string]string{pgclient.KeyRequestedSecrets: req.Data()[pgclient.KeyRequestedSecrets]}); err != nil {
				return g, err
			}
		}
	}
	server, err := goops.GetRelationApp(id)
	if err != nil || server == "" {
		return g, err
	}
	if g.Bag, err = goops.GetAppRelationData(id, server); err != nil {
		return g, err
	}
	if uri := g.Bag[pgclient.KeySecretUser]; uri != "" {
		content, err := goops.GetSecretByID(uri, false, true)
		if err != nil {
			g.Error = "secret-get: " + err.Error()
			return g, nil
		}
		g.Credentials = pgclient.ReadCredentials(content)
	} else if !req.SecretsKnown {
		g.Credentials = pgclient.ReadCredentials(g.Bag)
	}
	eps := pgclient.SplitEndpoints(g.Bag[pgclient.KeyEndpoints])
	if !g.Credentials.Complete() || len(eps) == 0 || g.Bag[pgclient.KeyDatabase] == "" {
		return g, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	target := g.Credentials.Username + "@" + eps[0] + "/" + g.Bag[pgclient.KeyDatabase]
	if err := ping(ctx, eps[0], g.Bag[pgclient.KeyDatabase], g.Credentials); err != nil {
		g.Error = "connect " + target + ": " + err.Error()
		goops.LogWarningf("%s", g.Error)
		return g, nil
	}
	g.Connected = target
	return g, nil
}

// ping connects to the primary at host:port and checks it takes writes.
func ping(ctx context.Context, hostport, database string, c pgclient.Credentials) error {
	host, port := hostport, "5432"
	if i := strings.LastIndexByte(hostport, ':'); i > 0 {
		host, port = strings.Trim(hostport[:i], "[]"), hostport[i+1:]
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s dbname=%s sslmode=prefer connect_timeout=5", host, port, database))
	if err != nil {
		return err
	}
	cfg.User, cfg.Password = c.Username, c.Password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var readOnly string
	if err := conn.QueryRow(ctx, "SHOW transaction_read_only").Scan(&readOnly); err != nil {
		return err
	}
	if readOnly != "off" {
		return fmt.Errorf("%s is not the primary", hostport)
	}
	return nil
}

// record writes what every relation gave, readable by root only, replaced atomically.
func record(got map[string]Got) error {
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(context.Background(), stateFile, bytes.NewReader(data), 0o600, nil)
}
