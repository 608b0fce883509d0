// Package cmdline parses command lines the way juju/gnuflag does (long and short options,
// --opt=v, -r3, interspersed options, "--") and writes values in juju/cmd's smart, yaml
// and json formats, so hook tools and the jujusim CLI print what Juju prints.
package cmdline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// UsageError is an Init error: printed as "ERROR msg", exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// ErrHelp is returned by Parse when -h or --help is given.
var ErrHelp = errors.New("help requested")

type flagDef struct {
	isBool bool
	set    func(string) error
}

// FlagSet is a gnuflag-like option parser with interspersed options allowed.
type FlagSet struct {
	defs  map[string]*flagDef
	names []string
	Args  []string
	// Seen records the names (without dashes) of options given.
	Seen map[string]bool
	// StopAtArg ends option parsing at the first positional argument (for commands that
	// pass the rest through, like ssh).
	StopAtArg bool
}

// NewFlagSet returns an empty FlagSet.
func NewFlagSet() *FlagSet {
	return &FlagSet{defs: map[string]*flagDef{}, Seen: map[string]bool{}}
}

func (f *FlagSet) add(d *flagDef, names []string) {
	for _, n := range names {
		f.defs[n] = d
		f.names = append(f.names, n)
	}
}

// String registers a string option under every name.
func (f *FlagSet) String(p *string, names ...string) {
	f.add(&flagDef{set: func(v string) error { *p = v; return nil }}, names)
}

// Bool registers a boolean option.
func (f *FlagSet) Bool(p *bool, names ...string) {
	f.add(&flagDef{isBool: true, set: func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*p = b
		return nil
	}}, names)
}

// Int registers an integer option.
func (f *FlagSet) Int(p *int, names ...string) {
	f.add(&flagDef{set: func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("invalid syntax")
		}
		*p = n
		return nil
	}}, names)
}

// StringList registers a repeatable string option.
func (f *FlagSet) StringList(p *[]string, names ...string) {
	f.add(&flagDef{set: func(v string) error { *p = append(*p, v); return nil }}, names)
}

// Func registers an option whose value is checked by set.
func (f *FlagSet) Func(set func(string) error, names ...string) {
	f.add(&flagDef{set: set}, names)
}

func (f *FlagSet) apply(given, name string, d *flagDef, value string) error {
	f.Seen[name] = true
	if err := d.set(value); err != nil {
		if d.isBool {
			return Usagef("invalid boolean value %q for option %s: %v", value, given, err)
		}
		return Usagef("invalid value %q for option %s: %v", value, given, err)
	}
	return nil
}

// Parse parses args; positional arguments end up in f.Args.
func (f *FlagSet) Parse(args []string) error {
	f.Args = nil
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			f.Args = append(f.Args, args[i+1:]...)
			return nil
		case a == "-" || !strings.HasPrefix(a, "-"):
			if f.StopAtArg {
				f.Args = append(f.Args, args[i:]...)
				return nil
			}
			f.Args = append(f.Args, a)
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			if name == "help" {
				return ErrHelp
			}
			d := f.defs[name]
			if d == nil || len(name) < 2 {
				return Usagef("option provided but not defined: --%s", name)
			}
			if d.isBool {
				if !hasValue {
					value = "true"
				}
			} else if !hasValue {
				if i+1 >= len(args) {
					return Usagef("option needs an argument: --%s", name)
				}
				i++
				value = args[i]
			}
			if err := f.apply("--"+name, name, d, value); err != nil {
				return err
			}
		default:
			rest := a[1:]
			for len(rest) > 0 {
				name := rest[:1]
				rest = rest[1:]
				if name == "h" {
					return ErrHelp
				}
				d := f.defs[name]
				if d == nil {
					return Usagef("option provided but not defined: -%s", name)
				}
				if d.isBool {
					value := "true"
					if strings.HasPrefix(rest, "=") {
						value, rest = rest[1:], ""
					}
					if err := f.apply("-"+name, name, d, value); err != nil {
						return err
					}
					continue
				}
				value := strings.TrimPrefix(rest, "=")
				rest = ""
				if value == "" && !strings.HasPrefix(a[2:], "=") {
					if i+1 >= len(args) {
						return Usagef("option needs an argument: -%s", name)
					}
					i++
					value = args[i]
				}
				if err := f.apply("-"+name, name, d, value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// CheckEmpty returns juju/cmd's error for unexpected extra arguments.
func CheckEmpty(args []string) error {
	if len(args) != 0 {
		return Usagef("unrecognized args: %q", args)
	}
	return nil
}
