package pgconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Checking a value against the parameter's description in pg_settings, as the server
// would parse it, so that a bad extra_pg_conf is refused naming the setting before any
// file changes. internal/postgres reads the descriptions from the running server.

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
