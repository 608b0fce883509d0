package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgcharm/postgresql/internal/hba"
	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/roles"
)

// replRules admit the replication role over TCP on the loopback, for streaming and for
// pg_rewind and the probes (which connect to the postgres database).
var replRules = []hba.Rule{
	{Type: "host", Database: hba.Replication, User: "repl", Address: "127.0.0.1", Method: "scram-sha-256"},
	{Type: "host", Database: "postgres", User: "repl", Address: "127.0.0.1", Method: "scram-sha-256"},
}

// configureForReplication makes c listen on the loopback and admit the replication role,
// as the charm configures every unit; it takes effect at the next (re)start.
func configureForReplication(t *testing.T, c *Cluster) {
	t.Helper()
	st := pgconf.Baseline(pgconf.BaselineOptions{})
	st.Set("listen_addresses", "127.0.0.1")
	if _, err := WriteCharmConf(c, st); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteHBA(c, replRules); err != nil {
		t.Fatal(err)
	}
}

// newPrimary makes a running primary as the charm leaves one: configured for replication,
// with the replication role (password; allowed to rewind) and an empty table t.
func newPrimary(t *testing.T, ctx context.Context, v, password string) *Cluster {
	t.Helper()
	p := newCluster(t, ctx, v).Cluster
	configureForReplication(t, p)
	if err := Restart(ctx, p); err != nil {
		t.Fatal(err)
	}
	db := connect(t, ctx, p, "postgres")
	defer db.Close(ctx)
	if _, err := db.EnsureRole(ctx, roles.Spec{Name: "repl", Login: true, Replication: true, Password: password}); err != nil {
		t.Fatal(err)
	}
	if err := db.GrantRewind(ctx, "repl"); err != nil {
		t.Fatal(err)
	}
	exec1(t, ctx, db, "CREATE TABLE t (id int PRIMARY KEY, origin text)")
	return p
}

// addStandby makes unit n's standby of p, streaming through slot unit_<n> as application
// "unit/<n>": the path a new unit takes (a fresh cluster created by the charm, then
// replaced by a clone of the primary).
func addStandby(t *testing.T, ctx context.Context, v string, p *Cluster, password string, n int) *Cluster {
	t.Helper()
	slot := fmt.Sprintf("unit_%d", n)
	db := connect(t, ctx, p, "postgres")
	if _, err := db.EnsurePhysicalSlot(ctx, slot); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	s := newCluster(t, ctx, v).Cluster
	configureForReplication(t, s)
	if err := Stop(ctx, s, StopFast); err != nil {
		t.Fatal(err)
	}
	up := Upstream{Host: "127.0.0.1", Port: p.Port, User: "repl", Password: password, AppName: fmt.Sprintf("unit/%d", n)}
	if _, err := Clone(ctx, v, s.DataDir, up, CloneOptions{Slot: slot, MoveAside: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteStandbyConfig(s, StandbyConfig{Upstream: up, Slot: slot}); err != nil {
		t.Fatal(err)
	}
	if err := Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newPair makes a primary and unit 1's streaming standby of it.
func newPair(t *testing.T, ctx context.Context, v string) (p, s *Cluster, password string) {
	t.Helper()
	password = "switch-over-pw"
	p = newPrimary(t, ctx, v, password)
	return p, addStandby(t, ctx, v, p, password, 1), password
}

// replConfig is a connection to c's postgres database over TCP as the replication role, as
// the failover agent and the charm's measurements make to a peer (without TLS here).
func replConfig(t *testing.T, c *Cluster, password string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d dbname=postgres user=repl sslmode=disable", c.Port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	return cfg
}
