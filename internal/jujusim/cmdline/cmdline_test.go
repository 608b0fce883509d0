package cmdline

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		r, f     string
		app      bool
		rest     string
		err      string
		wantHelp bool
	}{
		{args: []string{"-r=3", "-", "unit/0", "--app", "--format=json"}, r: "3", app: true, f: "json", rest: "- unit/0"},
		{args: []string{"-r", "db:3", "key"}, r: "db:3", rest: "key"},
		{args: []string{"-r3"}, r: "3"},
		{args: []string{"key", "--relation", "db:1", "--app=false"}, r: "db:1", rest: "key"},
		{args: []string{"--", "-r", "x"}, rest: "-r x"},
		{args: []string{"--application=False", "active", "--", "msg"}, rest: "active msg"},
		{args: []string{"--foo"}, err: "option provided but not defined: --foo"},
		{args: []string{"-x"}, err: "option provided but not defined: -x"},
		{args: []string{"-r"}, err: "option needs an argument: -r"},
		{args: []string{"--format=xml"}, err: `invalid value "xml" for option --format: unknown format "xml"`},
		{args: []string{"--app=maybe"}, err: `invalid boolean value "maybe" for option --app`},
		{args: []string{"--help"}, wantHelp: true},
		{args: []string{"-h"}, wantHelp: true},
	} {
		fs := NewFlagSet()
		var r string
		var app, application bool
		var out Output
		fs.String(&r, "r", "relation")
		fs.Bool(&app, "app")
		fs.Bool(&application, "application")
		out.Register(fs, "smart")
		err := fs.Parse(tc.args)
		desc := strings.Join(tc.args, " ")
		if tc.wantHelp {
			if !errors.Is(err, ErrHelp) {
				t.Errorf("%s: %v, want help", desc, err)
			}
			continue
		}
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) || !IsUsage(err) {
				t.Errorf("%s: error %v, want %q (usage)", desc, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", desc, err)
			continue
		}
		if r != tc.r || app != tc.app || strings.Join(fs.Args, " ") != tc.rest || (tc.f != "" && out.Format != tc.f) {
			t.Errorf("%s: r=%q app=%v args=%q format=%q", desc, r, app, fs.Args, out.Format)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		format string
		v      any
		want   string
	}{
		{"smart", "x", "x\n"},
		{"smart", "", ""},
		{"smart", nil, ""},
		{"smart", true, "True\n"},
		{"smart", false, "False\n"},
		{"smart", []string{"a", "b"}, "a\nb\n"},
		{"smart", []string{}, ""},
		{"smart", map[string]string{"b": "1", "a": "x y"}, "a: x y\nb: \"1\"\n"},
		{"smart", 3, "3\n"},
		{"yaml", nil, ""},
		{"yaml", "x", "x\n"},
		{"json", nil, "null\n"},
		{"json", []string{}, "[]\n"},
		{"json", map[string]string{}, "{}\n"},
		{"json", true, "true\n"},
	} {
		got, err := Format(tc.format, tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %#v: %q %v, want %q", tc.format, tc.v, got, err, tc.want)
		}
	}
}

func TestStopAtArg(t *testing.T) {
	fs := NewFlagSet()
	var m string
	fs.String(&m, "m", "model")
	fs.StopAtArg = true
	if err := fs.Parse([]string{"-m", "x", "pg/0", "ls", "-la", "--", "y"}); err != nil {
		t.Fatal(err)
	}
	if m != "x" || strings.Join(fs.Args, " ") != "pg/0 ls -la -- y" {
		t.Errorf("m=%q args=%q", m, fs.Args)
	}
}
