package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// CharmConfName is the include file the charm owns in the cluster's conf.d.
// Debian's postgresql.conf ends with include_dir 'conf.d', so its settings
// override the defaults written by pg_createcluster.
const CharmConfName = "juju-charm.conf"

// WriteConf renders settings into conf.d/<name> of the cluster atomically
// and reports whether the file changed. The file is readable by everyone,
// like Debian's postgresql.conf: never put secrets into settings.
func WriteConf(c *Cluster, name string, s Settings) (bool, error) {
	data, err := RenderConf("Written by the PostgreSQL charm; changes are overwritten.", s)
	if err != nil {
		return false, fmt.Errorf("render %s: %w", name, err)
	}
	dir := filepath.Join(c.ConfDir, "conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("write %s: %w", name, err)
	}
	return writeFileAtomic(filepath.Join(dir, name), data, 0o644, true)
}

// WriteCharmConf writes the charm's include file, conf.d/juju-charm.conf.
func WriteCharmConf(c *Cluster, s Settings) (bool, error) {
	return WriteConf(c, CharmConfName, s)
}

// ReadConf reads a postgresql.conf-syntax file of the cluster's conf.d
// (missing file: no settings).
func ReadConf(c *Cluster, name string) (Settings, error) {
	data, err := readNoFollow(filepath.Join(c.ConfDir, "conf.d", name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseConf(string(data), true, false)
}

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

// BaselineOptions are the inputs of the settings every unit runs with.
type BaselineOptions struct {
	// WALLevel is "replica" (default) or "logical".
	WALLevel string
	// MaxWALSenders and MaxReplicationSlots default to 10.
	MaxWALSenders       int
	MaxReplicationSlots int
	// CertFile and KeyFile turn SSL on (see EnsureSelfSignedCert).
	CertFile, KeyFile string
	// WALKeepSize is how much past WAL a server keeps beyond what
	// checkpoints need (default "1GB"). pg_rewind of a former primary needs
	// its own WAL back to the last checkpoint before the timelines split;
	// without an archive to fetch it from, only this keeps it.
	WALKeepSize string
}

// Baseline returns the settings the charm applies under the user's
// extra_pg_conf: replication-ready (hot standbys, slots, wal_log_hints for
// pg_rewind), SCRAM passwords, SSL, and logging that names who did what.
func Baseline(o BaselineOptions) Settings {
	walLevel := o.WALLevel
	if walLevel == "" {
		walLevel = "replica"
	}
	senders := o.MaxWALSenders
	if senders <= 0 {
		senders = 10
	}
	slots := o.MaxReplicationSlots
	if slots <= 0 {
		slots = 10
	}
	keep := o.WALKeepSize
	if keep == "" {
		keep = "1GB"
	}
	s := Settings{
		{"listen_addresses", "*"},
		{"password_encryption", "scram-sha-256"},
		{"wal_level", walLevel},
		{"hot_standby", "on"},
		{"max_wal_senders", strconv.Itoa(senders)},
		{"max_replication_slots", strconv.Itoa(slots)},
		{"wal_log_hints", "on"},
		{"wal_keep_size", keep},
		{"recovery_target_timeline", "latest"},
		{"log_line_prefix", "%m [%p] %q%u@%d "},
		{"log_checkpoints", "on"},
		{"log_connections", "on"},
		{"log_disconnections", "on"},
	}
	if o.CertFile != "" && o.KeyFile != "" {
		s.Set("ssl", "on")
		s.Set("ssl_cert_file", o.CertFile)
		s.Set("ssl_key_file", o.KeyFile)
	}
	return s
}

// ProtectedSettings are owned by the cluster's layout (Debian's
// postgresql.conf or this package); a user's extra_pg_conf overriding them
// would break the unit.
var ProtectedSettings = []string{
	"data_directory", "config_file", "hba_file", "ident_file", "external_pid_file",
	"port", "unix_socket_directories", "cluster_name",
	"primary_conninfo", "primary_slot_name",
	// The quorum commit (synchronous_standbys and synchronous_strict set them).
	"synchronous_standby_names", "synchronous_commit",
}

// SettingInfo describes a parameter as pg_settings does.
type SettingInfo struct {
	Name     string
	Vartype  string // bool, integer, real, string, enum
	Unit     string // base unit of integer/real parameters ("8kB", "ms", ...)
	MinVal   string
	MaxVal   string
	EnumVals []string
	Context  string // internal, postmaster, sighup, ...
}

// SettingError explains why a value is not acceptable for a parameter, in
// words a user can act on.
type SettingError struct {
	Name, Value string
	Msg         string
}

func (e *SettingError) Error() string {
	if e.Value == "" && strings.HasPrefix(e.Msg, "unknown") {
		return fmt.Sprintf("%s: %s", e.Name, e.Msg)
	}
	return fmt.Sprintf("%s = %s: %s", e.Name, QuoteValue(e.Value), e.Msg)
}

// InvalidSettingsError lists every rejected setting.
type InvalidSettingsError struct {
	Problems []*SettingError
}

func (e *InvalidSettingsError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Error())
	}
	return "invalid postgresql.conf settings: " + strings.Join(parts, "; ")
}

// CheckSetting validates value against the parameter's description, the way
// the server would parse it. info nil means the server does not know the
// name.
func CheckSetting(name string, info *SettingInfo, value string) *SettingError {
	fail := func(format string, a ...any) *SettingError {
		return &SettingError{Name: name, Value: value, Msg: fmt.Sprintf(format, a...)}
	}
	if !ValidName(name) {
		return fail("not a valid parameter name")
	}
	if info == nil {
		if strings.Contains(name, ".") {
			return nil // a custom (extension) parameter, checked when its module loads
		}
		return &SettingError{Name: name, Value: "", Msg: "unknown parameter (check the spelling against the PostgreSQL documentation of this server version)"}
	}
	if info.Context == "internal" {
		return fail("cannot be set: it is fixed when PostgreSQL is built or initialised")
	}
	v := strings.TrimSpace(value)
	switch info.Vartype {
	case "bool":
		if _, ok := parseBool(v); !ok {
			return fail("must be a boolean (on or off)")
		}
	case "enum":
		for _, e := range info.EnumVals {
			if strings.EqualFold(e, v) {
				return nil
			}
		}
		// Boolean-like enums (synchronous_commit, huge_pages...) also take
		// every boolean spelling, which pg_settings does not list.
		if _, ok := parseBool(v); ok && contains(info.EnumVals, "on") && contains(info.EnumVals, "off") {
			return nil
		}
		return fail("must be one of %s", strings.Join(info.EnumVals, ", "))
	case "integer", "real":
		n, err := parseNumber(v, info.Vartype == "integer", info.Unit)
		if err != nil {
			return fail("%v", err)
		}
		lo, err1 := strconv.ParseFloat(info.MinVal, 64)
		hi, err2 := strconv.ParseFloat(info.MaxVal, 64)
		if err1 == nil && err2 == nil && (n < lo || n > hi) {
			unit := ""
			if info.Unit != "" {
				unit = " (in units of " + info.Unit + ")"
			}
			return fail("%s is outside the valid range %s .. %s%s", formatNumber(n), info.MinVal, info.MaxVal, unit)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseBool accepts what PostgreSQL's parse_bool accepts.
func parseBool(v string) (bool, bool) {
	l := strings.ToLower(v)
	if l == "" {
		return false, false
	}
	switch {
	case strings.HasPrefix("true", l), strings.HasPrefix("yes", l), l == "on", l == "1":
		return true, true
	case strings.HasPrefix("false", l), strings.HasPrefix("no", l), l == "0":
		return false, true
	case len(l) >= 2 && strings.HasPrefix("off", l):
		return false, true
	}
	return false, false
}

var memoryUnits = []struct {
	name  string
	bytes float64
}{{"B", 1}, {"kB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}}

var timeUnits = []struct {
	name string
	us   float64
}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"min", 60e6}, {"h", 3600e6}, {"d", 86400e6}}

// baseUnit splits a pg_settings unit such as "8kB" into its multiplier and
// unit name, and says whether it measures memory or time.
func baseUnit(unit string) (mult float64, name string, memory bool, ok bool) {
	i := 0
	for i < len(unit) && unit[i] >= '0' && unit[i] <= '9' {
		i++
	}
	mult = 1
	if i > 0 {
		m, _ := strconv.Atoi(unit[:i])
		mult = float64(m)
	}
	name = unit[i:]
	for _, u := range memoryUnits {
		if u.name == name {
			return mult * u.bytes, name, true, true
		}
	}
	for _, u := range timeUnits {
		if u.name == name {
			return mult * u.us, name, false, true
		}
	}
	return 0, "", false, false
}

// parseNumber parses an integer or real parameter value with an optional
// unit and returns it in the parameter's base unit.
func parseNumber(v string, integer bool, unit string) (float64, error) {
	kind := "a number"
	if integer {
		kind = "an integer"
	}
	// Split the numeric part from a unit suffix.
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	var n float64
	hex := strings.HasPrefix(strings.ToLower(v[i:]), "0x")
	if hex && integer {
		j := i + 2
		for j < len(v) && strings.ContainsRune("0123456789abcdefABCDEF", rune(v[j])) {
			j++
		}
		x, err := strconv.ParseInt(v[i+2:j], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("not %s", kind)
		}
		n = float64(x)
		if v[0] == '-' {
			n = -n
		}
		i = j
	} else {
		j := i
		for j < len(v) && (v[j] >= '0' && v[j] <= '9' || v[j] == '.' || v[j] == 'e' || v[j] == 'E' ||
			((v[j] == '-' || v[j] == '+') && j > 0 && (v[j-1] == 'e' || v[j-1] == 'E'))) {
			// "e" only belongs to the number when a digit or sign follows.
			if (v[j] == 'e' || v[j] == 'E') && !(j+1 < len(v) && (v[j+1] >= '0' && v[j+1] <= '9' || v[j+1] == '-' || v[j+1] == '+')) {
				break
			}
			j++
		}
		x, err := strconv.ParseFloat(v[:j], 64)
		if err != nil || j == i {
			return 0, fmt.Errorf("not %s", kind)
		}
		n = x
		i = j
	}
	suffix := strings.TrimSpace(v[i:])
	if suffix != "" {
		if unit == "" {
			return 0, fmt.Errorf("not %s (this parameter takes no unit)", kind)
		}
		baseMult, _, memory, ok := baseUnit(unit)
		if !ok {
			return 0, fmt.Errorf("unexpected unit %q", suffix)
		}
		found := false
		if memory {
			for _, u := range memoryUnits {
				if u.name == suffix {
					n = n * u.bytes / baseMult
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf(`invalid unit %q: valid units for this parameter are "B", "kB", "MB", "GB" and "TB" (case matters)`, suffix)
			}
		} else {
			for _, u := range timeUnits {
				if u.name == suffix {
					n = n * u.us / baseMult
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf(`invalid unit %q: valid units for this parameter are "us", "ms", "s", "min", "h" and "d"`, suffix)
			}
		}
	}
	if integer {
		n = math.Round(n)
	}
	return n, nil
}

func formatNumber(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e18 {
		return strconv.FormatInt(int64(n), 10)
	}
	return strconv.FormatFloat(n, 'g', -1, 64)
}

// ApplyCharmConf validates settings against the running server, writes
// conf.d/juju-charm.conf, has the server re-read its files and returns the
// settings that wait for a restart. Settings the server refuses leave the
// previous file in place (*InvalidSettingsError), so a bad extra_pg_conf
// never stops PostgreSQL at its next start.
func (db *DB) ApplyCharmConf(ctx context.Context, s Settings) (changed bool, pendingRestart []string, err error) {
	if err := db.Validate(ctx, s); err != nil {
		return false, nil, err
	}
	path := filepath.Join(db.cluster.ConfDir, "conf.d", CharmConfName)
	old, err := readNoFollow(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, nil, fmt.Errorf("apply %s: %w", CharmConfName, err)
	}
	changed, err = WriteCharmConf(db.cluster, s)
	if err != nil {
		return false, nil, err
	}
	if changed {
		problems, err := db.FileSettingErrors(ctx)
		if err == nil && len(problems) > 0 {
			err = &InvalidSettingsError{Problems: []*SettingError{{Name: "configuration files", Msg: strings.Join(problems, "; ")}}}
		}
		if err != nil {
			if old != nil {
				_, _ = writeFileAtomic(path, old, 0o644, true)
			} else {
				_ = os.Remove(path)
			}
			return false, nil, err
		}
	}
	if !changed {
		// Nothing to reload: a reload on every hook would only wake the server.
		pending, err := db.PendingRestart(ctx)
		return false, pending, err
	}
	pending, err := db.ReloadConf(ctx)
	return changed, pending, err
}
