package cmdline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v2"
)

// Output implements juju/cmd's --format and -o/--output options.
type Output struct {
	Format string
	File   string
}

// Register adds --format (default def) and -o/--output to f.
func (o *Output) Register(f *FlagSet, def string) {
	o.Format = def
	f.Func(func(v string) error {
		switch v {
		case "smart", "yaml", "json":
			o.Format = v
			return nil
		}
		return fmt.Errorf("unknown format %q", v)
	}, "format")
	f.String(&o.File, "o", "output")
}

// Write formats v to w (or to the -o file).
func (o *Output) Write(w io.Writer, v any) error {
	data, err := Format(o.Format, v)
	if err != nil {
		return err
	}
	if o.File != "" {
		return os.WriteFile(o.File, data, 0o644)
	}
	_, err = w.Write(data)
	return err
}

// Format renders v in the named format with juju/cmd's rules.
func Format(format string, v any) ([]byte, error) {
	switch format {
	case "json":
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(data, '\n'), nil
	case "yaml":
		if v == nil {
			return nil, nil
		}
		return yaml.Marshal(v)
	default: // smart
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			if x == "" {
				return nil, nil
			}
			return []byte(x + "\n"), nil
		case []string:
			if len(x) == 0 {
				return nil, nil
			}
			return []byte(strings.Join(x, "\n") + "\n"), nil
		case bool:
			if x {
				return []byte("True\n"), nil
			}
			return []byte("False\n"), nil
		}
		return yaml.Marshal(v)
	}
}
