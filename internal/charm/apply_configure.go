package charm

import (
	"errors"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/postgres"
)

// configError is a configuration the server refuses, or plan.Decide did
// (plan.Desired.SettingsRefused); it blocks the unit, naming the option.
type configError struct{ option, reason string }

func (e *configError) Error() string {
	if e.option == "" {
		return e.reason // the decision's words, which name the option
	}
	return e.option + ": " + e.reason
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
	// The certificate first: the settings name its files (plan.ServerFacts).
	_, _, certChanged, err := r.serverCert(c)
	if err != nil {
		return err
	}
	if d.SettingsRefused != "" {
		return &configError{reason: d.SettingsRefused}
	}
	s := d.Settings
	rules, admits := d.HBA, d.Admits
	if _, err := postgres.WriteIdent(c); err != nil {
		return err
	}
	running, err := postgres.IsRunning(r.ctx, c)
	if err != nil {
		return err
	}
	if !running {
		if _, err := postgres.WriteCharmConf(c, s); err != nil {
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
	_, pending, err := db.ApplyCharmConf(r.ctx, s)
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
