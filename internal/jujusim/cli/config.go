package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/juju/charm/v12"
	"gopkg.in/yaml.v2"
)

func init() {
	reg("config", "APP [K=V ... | --file FILE | --reset K[,K] | K]", cmdConfig)
}

func cmdConfig(c *env) error {
	var file, reset, format string
	c.fs.String(&file, "file")
	c.fs.String(&reset, "reset")
	c.fs.String(&format, "format")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "config APP [K=V...]"); err != nil {
		return err
	}
	appName, rest := args[0], args[1:]
	app, err := c.e.App(c.ref(), appName)
	if err != nil {
		return err
	}
	if app.Remote != nil {
		return fmt.Errorf("application %q is a remote application", appName)
	}
	if file == "" && reset == "" && (len(rest) == 0 || (len(rest) == 1 && !strings.Contains(rest[0], "="))) {
		ch, err := charm.ReadCharmDir(app.CharmDir)
		if err != nil {
			return err
		}
		opts := map[string]charm.Option{}
		if ch.Config() != nil {
			opts = ch.Config().Options
		}
		if len(rest) == 1 {
			o, ok := opts[rest[0]]
			if !ok {
				return fmt.Errorf("key %q not found in %q application config or charm settings", rest[0], appName)
			}
			v, set := app.Config[rest[0]]
			if !set || v == nil {
				v = o.Default
			}
			if v != nil {
				fmt.Fprintln(c.stdout, fmtValue(v))
			} else {
				fmt.Fprintln(c.stdout, "")
			}
			return nil
		}
		settings := map[string]any{}
		for name, o := range opts {
			s := map[string]any{"type": o.Type, "description": o.Description, "source": "unset"}
			if o.Default != nil {
				s["default"] = o.Default
				s["value"] = o.Default
				s["source"] = "default"
			}
			if v, ok := app.Config[name]; ok && v != nil {
				s["value"] = v
				s["source"] = "user"
			}
			settings[name] = s
		}
		out := map[string]any{"application": appName, "charm": app.CharmName, "settings": settings}
		if format == "json" {
			data, _ := json.Marshal(out)
			fmt.Fprintln(c.stdout, string(data))
			return nil
		}
		data, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(data)
		return err
	}
	kv, err := kvArgs(rest)
	if err != nil {
		return err
	}
	var resets []string
	if reset != "" {
		resets = splitList([]string{reset})
	}
	if err := c.e.SetConfig(c.ref(), appName, kv, file, resets); err != nil {
		return err
	}
	return c.settle()
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
	}
	return fmt.Sprint(v)
}
