package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/juju/charm/v12"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// loadCharm reads the charm the way `juju deploy` does: a directory is archived (honouring
// .jujuignore and the symlink rules) and the archive expanded, an archive is expanded, into
// dest. It returns the expanded charm.
func loadCharm(path, dest string) (charm.Charm, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read charm %s: %w", path, err)
	}
	archive := path
	if st.IsDir() {
		dir, err := charm.ReadCharmDir(path)
		if err != nil {
			return nil, fmt.Errorf("read charm directory %s: %w", path, err)
		}
		tmp, err := os.CreateTemp("", "jujusim-charm-*.charm")
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp.Name())
		if err := dir.ArchiveTo(tmp); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("archive charm %s: %w", path, err)
		}
		if err := tmp.Close(); err != nil {
			return nil, err
		}
		archive = tmp.Name()
	}
	a, err := charm.ReadCharmArchive(archive)
	if err != nil {
		return nil, fmt.Errorf("read charm archive %s: %w", path, err)
	}
	if err := os.RemoveAll(dest); err != nil {
		return nil, err
	}
	if err := a.ExpandTo(dest); err != nil {
		return nil, fmt.Errorf("expand charm %s: %w", path, err)
	}
	return charm.ReadCharmDir(dest)
}

// readCharm reads an expanded charm.
func readCharm(dir string) (charm.Charm, error) {
	ch, err := charm.ReadCharmDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read charm %s: %w", dir, err)
	}
	return ch, nil
}

// charmFacts copies what hook tools need from the charm into the app record.
func charmFacts(app *state.App, ch charm.Charm) {
	meta := ch.Meta()
	app.CharmName = meta.Name
	app.ConfigDefaults = map[string]any{}
	app.ConfigTypes = map[string]string{}
	if cfg := ch.Config(); cfg != nil {
		for name, opt := range cfg.Options {
			app.ConfigTypes[name] = opt.Type
			app.ConfigDefaults[name] = opt.Default
		}
	}
	app.Endpoints = map[string]state.EndpointInfo{}
	for name, r := range meta.CombinedRelations() {
		app.Endpoints[name] = state.EndpointInfo{Interface: r.Interface, Role: string(r.Role), Limit: r.Limit}
	}
	app.ExtraBindings = nil
	for name := range meta.ExtraBindings {
		app.ExtraBindings = append(app.ExtraBindings, name)
	}
	app.StorageMeta = map[string]state.StorageMeta{}
	for name, s := range meta.Storage {
		kind := "filesystem"
		if s.Type == charm.StorageBlock {
			kind = "block"
		}
		app.StorageMeta[name] = state.StorageMeta{Kind: kind, Location: s.Location, CountMin: s.CountMin, CountMax: s.CountMax, MinMiB: int(s.MinimumSize)}
	}
}

// parseConfigArgs turns k=v strings into typed settings for the charm's options.
func parseConfigArgs(ch charm.Charm, kv map[string]string) (charm.Settings, error) {
	cfg := ch.Config()
	if cfg == nil {
		cfg = charm.NewConfig()
	}
	return cfg.ParseSettingsStrings(kv)
}

// parseConfigFile reads a juju config file (a YAML map keyed by application name).
func parseConfigFile(ch charm.Charm, app, path string) (charm.Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	cfg := ch.Config()
	if cfg == nil {
		cfg = charm.NewConfig()
	}
	s, err := cfg.ParseSettingsYAML(data, app)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return s, nil
}

// parseStorageDirective parses "pool,size,count" parts in any order (juju storage syntax).
func parseStorageDirective(v string) (state.StorageDirective, error) {
	d := state.StorageDirective{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case part[0] >= '0' && part[0] <= '9':
			last := part[len(part)-1]
			if last >= '0' && last <= '9' {
				var n int
				if _, err := fmt.Sscanf(part, "%d", &n); err != nil {
					return d, fmt.Errorf("invalid storage count %q", part)
				}
				d.Count = n
				continue
			}
			size, err := parseSize(part)
			if err != nil {
				return d, err
			}
			d.SizeMiB = size
		default:
			d.Pool = part
		}
	}
	return d, nil
}

// parseSize parses "50G", "1024M", "1.5T" into MiB.
func parseSize(s string) (int, error) {
	mult := map[byte]float64{'M': 1, 'G': 1024, 'T': 1024 * 1024, 'P': 1024 * 1024 * 1024}
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B"))
	if u == "" {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	m, ok := mult[u[len(u)-1]]
	num := u
	if ok {
		num = u[:len(u)-1]
	} else {
		m = 1
	}
	var f float64
	if _, err := fmt.Sscanf(num, "%g", &f); err != nil || f <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int(f*m + 0.5), nil
}

// actionSpec returns the spec of action name of the app's charm.
func actionSpec(dir, name string) (charm.ActionSpec, error) {
	ch, err := readCharm(dir)
	if err != nil {
		return charm.ActionSpec{}, err
	}
	acts := ch.Actions()
	if acts == nil {
		return charm.ActionSpec{}, fmt.Errorf("action %q not defined on application", name)
	}
	spec, ok := acts.ActionSpecs[name]
	if !ok {
		return charm.ActionSpec{}, fmt.Errorf("action %q not defined on application", name)
	}
	return spec, nil
}

func charmStoreDir(home, app string, seq int) string {
	return filepath.Join(home, "charms", fmt.Sprintf("%s-%d", app, seq))
}
