package pgconf

import (
	"strings"
	"testing"
)

func TestCheckSetting(t *testing.T) {
	intInfo := &SettingInfo{Name: "max_connections", Vartype: "integer", MinVal: "1", MaxVal: "262143", Context: "postmaster"}
	memInfo := &SettingInfo{Name: "shared_buffers", Vartype: "integer", Unit: "8kB", MinVal: "16", MaxVal: "1073741823", Context: "postmaster"}
	timeInfo := &SettingInfo{Name: "statement_timeout", Vartype: "integer", Unit: "ms", MinVal: "0", MaxVal: "2147483647", Context: "user"}
	realInfo := &SettingInfo{Name: "checkpoint_completion_target", Vartype: "real", MinVal: "0", MaxVal: "1", Context: "sighup"}
	enumInfo := &SettingInfo{Name: "wal_level", Vartype: "enum", EnumVals: []string{"minimal", "replica", "logical"}, Context: "postmaster"}
	boolEnum := &SettingInfo{Name: "synchronous_commit", Vartype: "enum", EnumVals: []string{"local", "remote_write", "remote_apply", "on", "off"}, Context: "user"}
	boolInfo := &SettingInfo{Name: "ssl", Vartype: "bool", Context: "sighup"}
	internal := &SettingInfo{Name: "block_size", Vartype: "integer", Context: "internal"}
	for _, tc := range []struct {
		name  string
		info  *SettingInfo
		value string
		msg   string // empty: valid
	}{
		{"max_connections", intInfo, "100", ""},
		{"max_connections", intInfo, "0x10", ""},
		{"max_connections", intInfo, "abc", "not an integer"},
		{"max_connections", intInfo, "0", "0 is outside the valid range 1 .. 262143"},
		{"max_connections", intInfo, "10MB", "takes no unit"},
		{"shared_buffers", memInfo, "128MB", ""},
		{"shared_buffers", memInfo, "16384", ""},
		{"shared_buffers", memInfo, "1GB", ""},
		{"shared_buffers", memInfo, "10XB", `invalid unit "XB"`},
		{"shared_buffers", memInfo, "128mb", `invalid unit "mb"`},
		{"shared_buffers", memInfo, "64kB", "8 is outside the valid range 16 .. 1073741823 (in units of 8kB)"},
		{"statement_timeout", timeInfo, "5min", ""},
		{"statement_timeout", timeInfo, "1.5s", ""},
		{"statement_timeout", timeInfo, "5 parsecs", "invalid unit"},
		{"checkpoint_completion_target", realInfo, "0.9", ""},
		{"checkpoint_completion_target", realInfo, "1.5", "outside the valid range 0 .. 1"},
		{"checkpoint_completion_target", realInfo, "high", "not a number"},
		{"wal_level", enumInfo, "Logical", ""},
		{"wal_level", enumInfo, "foo", "must be one of minimal, replica, logical"},
		{"synchronous_commit", boolEnum, "true", ""},
		{"ssl", boolInfo, "true", ""},
		{"ssl", boolInfo, "of", ""},
		{"ssl", boolInfo, "o", "must be a boolean"},
		{"ssl", boolInfo, "maybe", "must be a boolean"},
		{"block_size", internal, "4096", "cannot be set"},
		{"no_such_thing", nil, "1", "no_such_thing: unknown parameter"},
		{"auto_explain.log_min_duration", nil, "1s", ""},
	} {
		err := CheckSetting(tc.name, tc.info, tc.value)
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s = %q: unexpected error %v", tc.name, tc.value, err)
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s = %q: error %v, want one containing %q", tc.name, tc.value, err, tc.msg)
		}
	}
}
