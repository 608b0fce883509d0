package charm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/postgres"
)

// configError is a configuration the server refuses; it blocks the unit, naming the option.
type configError struct{ option, reason string }

func (e *configError) Error() string { return e.option + ": " + e.reason }

// settings are what the unit runs with: the charm's baseline, then the user's
// extra_pg_conf, then what replication needs (which the user cannot override).
func (r *applying) settings(certFile, keyFile string) (postgres.Settings, error) {
	// Both need a restart to change, so they start generous and only grow with a large
	// application, never on every added unit.
	senders := max(16, 2*(len(r.j.Peers)+1)+6)
	base := postgres.Baseline(postgres.BaselineOptions{CertFile: certFile, KeyFile: keyFile,
		MaxWALSenders: senders, MaxReplicationSlots: senders})
	base.Set("max_connections", strconv.Itoa(r.j.Config.MaxConnections))
	extra, err := postgres.ParseExtraConf(r.j.Config.ExtraPgConf)
	if err != nil {
		return nil, &configError{"extra_pg_conf", err.Error()}
	}
	for _, s := range extra {
		for _, p := range postgres.ProtectedSettings {
			if strings.EqualFold(s.Name, p) {
				return nil, &configError{"extra_pg_conf", fmt.Sprintf("%s is managed by the charm; remove it", s.Name)}
			}
		}
	}
	return base.Merge(r.failoverSettings()).Merge(extra).Merge(r.archiveSettings()), nil
}

// configure writes the server's configuration files and applies them. On a running
// server the server checks them first and a refused file is rolled back, so a bad option
// blocks the unit with a message instead of leaving a server that cannot restart. Settings
// that need a restart are noted for the rolling restart.
func (r *applying) configure() error {
	c := r.local.Cluster
	d := r.decide()
	if c == nil || d.Teardown || d.Halt || d.Hold {
		// Nothing to configure, or the decision goes no further than it (pg_hba and the
		// settings are only decided past the application's secret).
		return nil
	}
	cert, key, certChanged, err := r.serverCert(c)
	if err != nil {
		return err
	}
	s, err := r.settings(cert, key)
	if err != nil {
		return err
	}
	rules, admits := d.HBA, d.Admits
	if _, err := postgres.WriteIdent(c); err != nil {
		return err
	}
	running, err := postgres.IsRunning(r.ctx, c)
	if err != nil {
		return err
	}
	q := syncSettings(d.Sync)
	if !running {
		if _, err := postgres.WriteCharmConf(c, s.Merge(q)); err != nil {
			return err
		}
		if _, err := postgres.WriteHBA(c, rules); err != nil {
			return err
		}
		r.admits, r.Applied = admits, r.ConfigHash
		return nil
	}
	db, err := postgres.Connect(r.ctx, c, "postgres")
	if err != nil {
		return err
	}
	defer db.Close(r.ctx)
	_, pending, err := db.ApplyCharmConf(r.ctx, s.Merge(q))
	var invalid *postgres.InvalidSettingsError
	if errors.As(err, &invalid) {
		return &configError{"extra_pg_conf", err.Error()}
	}
	if err != nil {
		return err
	}
	if _, err := db.ApplyHBA(r.ctx, rules); err != nil {
		var refused *postgres.HBARejectedError
		if errors.As(err, &refused) {
			return &configError{"extra_pg_auth", err.Error()}
		}
		return err
	}
	r.admits, r.Applied = admits, r.ConfigHash
	if certChanged {
		if pending, err = db.ReloadConf(r.ctx); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		goops.LogInfof("settings waiting for a restart: %s", strings.Join(pending, ", "))
		r.local.needsRestart = true
	}
	return nil
}
