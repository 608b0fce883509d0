package tools

import (
	"math"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("config-get", configGet, false, "smart")
}

// ConfigValue converts a stored (JSON-decoded) value to its option type.
func ConfigValue(typ string, v any) any {
	if f, ok := v.(float64); ok && typ == "int" && f == math.Trunc(f) {
		return int64(f)
	}
	return v
}

// EffectiveConfig is the app's settings: set values over non-nil defaults (all adds nils).
func EffectiveConfig(app *state.App, all bool) map[string]any {
	res := map[string]any{}
	for k, t := range app.ConfigTypes {
		if v, ok := app.Config[k]; ok && v != nil {
			res[k] = ConfigValue(t, v)
		} else if d := app.ConfigDefaults[k]; d != nil {
			res[k] = ConfigValue(t, d)
		} else if all {
			res[k] = nil
		}
	}
	return res
}

func configGet(c *call) error {
	var all bool
	c.fs.Bool(&all, "a", "all")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	key := ""
	if len(args) > 0 {
		key, args = args[0], args[1:]
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	if all && key != "" {
		return cmdline.Usagef("cannot use argument --all together with key %q", key)
	}
	cfg := EffectiveConfig(c.app, all)
	if key == "" {
		return c.write(cfg)
	}
	return c.write(cfg[key])
}
