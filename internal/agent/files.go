// Package agent is the charm binary's third face: a systemd service on every unit that
// probes the local server and its peers over SQL every second, writes what it saw to a
// file only root reads (the charm decides on it: plan.DecideFailover), and wakes the charm
// with juju-exec when something the charm must act on changed. It decides nothing about
// the application; the one thing it does by itself is fence its own server: a primary
// that cannot reach a majority of the units stops, so that it never takes writes a
// failover elsewhere would not have.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pgcharm/postgresql/internal/atomicfile"
	"github.com/pgcharm/postgresql/internal/postgres"
	"github.com/pgcharm/postgresql/internal/safefs"
	"github.com/pgcharm/postgresql/internal/wal"
)

// Dir holds the agent's configuration (written by the charm) and its observations
// (written by the agent); both hold or derive from the replication password, so the
// directory and its files are root's alone.
const Dir = "/var/lib/postgresql-charm-agent"

// Paths in Dir.
var (
	ConfigPath = filepath.Join(Dir, "config.json")
	ReportPath = filepath.Join(Dir, "observed.json")
)

// Config is what the charm tells the agent; the agent reads it every round, so a change
// takes effect within a second without a restart.
type Config struct {
	Unit    string            `json:"unit"`
	Primary string            `json:"primary"` // the primary recorded in the peer application data
	Units   map[string]string `json:"units"`   // every unit's server address, this one's included
	// Members are the units a majority is counted over: those that run a server (as
	// their peer data says), this one included. A unit still cloning is no member, so a
	// primary whose new standbys are not up yet does not fence itself.
	Members  []string `json:"members"`
	Password string   `json:"password"`
	CA       string   `json:"ca"` // PEM: peers' certificates are verified against it
	Timeout  int      `json:"failover-timeout"`
	Cluster  Cluster  `json:"cluster"`
	// Wake is the argv that runs the charm's reconcile in the unit's hook context.
	Wake []string `json:"wake"`
}

// Cluster is the local server as the charm recorded it (root never takes these from
// postgres's files): postgres's own description, which Connect and Stop take as it is.
type Cluster = postgres.Cluster

// TimeoutDuration is the failover timeout.
func (c Config) TimeoutDuration() time.Duration { return time.Duration(c.Timeout) * time.Second }

// Report is what the agent saw at its last round.
type Report struct {
	Unit    string          `json:"unit"`
	Time    time.Time       `json:"time"`
	Started time.Time       `json:"started"`
	Units   map[string]View `json:"units"`
	// Fenced says why this agent stopped its own server, empty if it did not.
	Fenced string `json:"fenced,omitempty"`
	// Majority: the agent reached the machines of a majority of the members (itself
	// included) at this round. The charm never starts a primary, nor relaxes its quorum
	// commit, without it.
	Majority bool `json:"majority"`
}

// View is one unit's server as the agent last saw it.
type View struct {
	Reachable bool `json:"reachable"`
	// HostUp: its machine answered at the last probe, if only to refuse the connection or
	// the login (majorities count machines, not servers: a stopped server is no partition).
	HostUp   bool      `json:"host-up"`
	LastSeen time.Time `json:"last-seen,omitzero"`
	// DownSince is when it stopped answering (the agent's start when never reached).
	DownSince   time.Time `json:"down-since,omitzero"`
	InRecovery  bool      `json:"in-recovery"`
	Timeline    uint32    `json:"timeline"`
	Flushed     wal.LSN   `json:"flushed"`
	Replayed    wal.LSN   `json:"replayed"`
	Streaming   bool      `json:"streaming"` // a standby hearing from its primary within the timeout
	SyncNames   string    `json:"sync-names,omitempty"`
	SeenPrimary bool      `json:"seen-primary"`
	Standbys    []string  `json:"standbys,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// WriteConfig writes the agent's configuration, private to root, and says whether it
// changed.
func WriteConfig(path string, c Config) (bool, error) {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return false, err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return false, err
	}
	return atomicfile.WriteIfChanged(path, append(data, '\n'), 0o600, &atomicfile.Owner{UID: 0, GID: 0})
}

// ReadConfig reads the configuration; a missing file is fs.ErrNotExist.
func ReadConfig(path string) (Config, error) {
	var c Config
	data, err := safefs.ReadFile(path, safefs.Private)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("agent configuration %s: %w", path, err)
	}
	return c, nil
}

// WriteReport writes the observations atomically, private to root.
func WriteReport(path string, r Report) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = atomicfile.WriteIfChanged(path, append(data, '\n'), 0o600, &atomicfile.Owner{UID: 0, GID: 0})
	return err
}

// ReadReport reads the agent's last observations.
func ReadReport(path string) (Report, error) {
	var r Report
	data, err := safefs.ReadFile(path, safefs.Private)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("agent report %s: %w", path, err)
	}
	return r, nil
}

func ensureDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: refused: not a directory", dir)
	}
	return os.Chmod(dir, 0o700)
}
