package pgconf

import (
	"fmt"
	"strings"
)

// ConfSyntaxError points at the offending line of postgresql.conf text.
type ConfSyntaxError struct {
	Line int
	Text string
	Msg  string
}

func (e *ConfSyntaxError) Error() string {
	return fmt.Sprintf("line %d (%s): %s", e.Line, strings.TrimSpace(e.Text), e.Msg)
}

// ParseExtraConf parses the extra_pg_conf option, written in postgresql.conf
// syntax (`name = value`, `=` optional, values bare or single-quoted, `#`
// comments). Include directives are refused: they would read files the
// charm does not manage. A later setting of the same name wins, as in
// PostgreSQL. Errors name the line.
func ParseExtraConf(text string) (Settings, error) {
	return parseConf(text, false, false)
}

// ParseFile parses a postgresql.conf-syntax file the charm writes: include directives
// are skipped, any other bad line is an error.
func ParseFile(text string) (Settings, error) { return parseConf(text, true, false) }

// ParseLenient parses a postgresql.conf the charm does not own (Debian's, which an
// administrator may edit): include directives and lines it cannot parse are skipped.
func ParseLenient(text string) (Settings, error) { return parseConf(text, true, true) }

// parseConf parses postgresql.conf text. skipIncludes ignores include
// directives instead of refusing them; lenient skips lines it cannot parse
// (for reading files the charm does not own).
func parseConf(text string, skipIncludes, lenient bool) (Settings, error) {
	var out Settings
	for i, line := range strings.Split(text, "\n") {
		name, value, ok, err := parseConfLine(line)
		if err != nil {
			if lenient {
				continue
			}
			return nil, &ConfSyntaxError{Line: i + 1, Text: line, Msg: err.Error()}
		}
		if !ok {
			continue
		}
		if isIncludeDirective(name) {
			if skipIncludes {
				continue
			}
			return nil, &ConfSyntaxError{Line: i + 1, Text: line, Msg: name + " directives are not allowed here"}
		}
		out.Set(name, value)
	}
	return out, nil
}

// parseConfLine follows the lexer of PostgreSQL's guc-file.l closely enough
// for configuration people write by hand.
func parseConfLine(line string) (name, value string, ok bool, err error) {
	s := strings.TrimRight(line, "\r")
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f' || s[i] == '\v') {
			i++
		}
	}
	skipSpace()
	if i == len(s) || s[i] == '#' {
		return "", "", false, nil
	}
	start := i
	for i < len(s) && (isNameChar(s[i]) || s[i] == '.') {
		i++
	}
	name = s[start:i]
	if name == "" || !ValidName(name) {
		return "", "", false, fmt.Errorf("expected a parameter name")
	}
	skipSpace()
	if i < len(s) && s[i] == '=' {
		i++
		skipSpace()
	}
	if i == len(s) || s[i] == '#' {
		return "", "", false, fmt.Errorf("missing value for %s", name)
	}
	if s[i] == '\'' {
		v, n, err := unquoteConf(s[i:])
		if err != nil {
			return "", "", false, err
		}
		value = v
		i += n
	} else {
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '#' && s[i] != '\'' {
			i++
		}
		value = s[start:i]
	}
	skipSpace()
	if i < len(s) && s[i] != '#' {
		return "", "", false, fmt.Errorf("unexpected %q after the value of %s (quote values containing spaces)", s[i:], name)
	}
	return strings.ToLower(name), value, true, nil
}

func isNameChar(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// unquoteConf decodes a single-quoted postgresql.conf string at the start of
// s, returning the value and the number of bytes consumed.
func unquoteConf(s string) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			e := s[i]
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0', '1', '2', '3', '4', '5', '6', '7':
				n, j := 0, 0
				for j < 3 && i+j < len(s) && s[i+j] >= '0' && s[i+j] <= '7' {
					n = n*8 + int(s[i+j]-'0')
					j++
				}
				b.WriteByte(byte(n))
				i += j
				continue
			default:
				b.WriteByte(e)
			}
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted string")
}
