package pgconf

import (
	"fmt"
	"regexp"
	"strings"
)

// Setting is one postgresql.conf parameter. Value is the plain value, without
// postgresql.conf quoting.
type Setting struct {
	Name  string
	Value string
}

// Settings keeps parameters in the order they were set; names are compared
// case-insensitively, as PostgreSQL does.
type Settings []Setting

// Get returns the value of name.
func (s Settings) Get(name string) (string, bool) {
	name = strings.ToLower(name)
	for _, kv := range s {
		if kv.Name == name {
			return kv.Value, true
		}
	}
	return "", false
}

// Set replaces the value of name in place, or appends it.
func (s *Settings) Set(name, value string) {
	name = strings.ToLower(name)
	for i, kv := range *s {
		if kv.Name == name {
			(*s)[i].Value = value
			return
		}
	}
	*s = append(*s, Setting{Name: name, Value: value})
}

// Merge returns s with every setting of over applied on top of it.
func (s Settings) Merge(over Settings) Settings {
	out := append(Settings(nil), s...)
	for _, kv := range over {
		out.Set(kv.Name, kv.Value)
	}
	return out
}

// Names lists the setting names in order.
func (s Settings) Names() []string {
	var n []string
	for _, kv := range s {
		n = append(n, kv.Name)
	}
	return n
}

var settingNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$`)

// ValidName reports whether name is a syntactically valid parameter name
// (custom parameters are dotted: "auto_explain.log_min_duration").
func ValidName(name string) bool { return settingNameRE.MatchString(name) }

// QuoteValue renders value as a postgresql.conf string literal. Every value
// is quoted: the server parses quoted numbers, booleans and enums like bare
// ones, and quoting leaves no way for a value to end the line early or start
// a comment.
func QuoteValue(value string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '\'':
			b.WriteString("''")
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// RenderConf renders settings as a postgresql.conf fragment. header lines
// become comments. Names are validated, since a bad one would stop the
// server from starting.
func RenderConf(header string, s Settings) ([]byte, error) {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if header == "" {
			break
		}
		b.WriteString("# " + line + "\n")
	}
	for _, kv := range s {
		if !ValidName(kv.Name) {
			return nil, fmt.Errorf("invalid parameter name %q", kv.Name)
		}
		if isIncludeDirective(kv.Name) {
			return nil, fmt.Errorf("%s directives cannot be rendered as settings", kv.Name)
		}
		fmt.Fprintf(&b, "%s = %s\n", strings.ToLower(kv.Name), QuoteValue(kv.Value))
	}
	return []byte(b.String()), nil
}

func isIncludeDirective(name string) bool {
	switch strings.ToLower(name) {
	case "include", "include_dir", "include_if_exists":
		return true
	}
	return false
}
