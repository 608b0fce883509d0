package pgconf

import (
	"errors"
	"strings"
	"testing"
)

func TestQuoteValueRoundTrip(t *testing.T) {
	for _, v := range []string{
		"", "on", "*", "it's", `back\slash`, "%m [%p] %q%u@%d ", "line\nbreak", "tab\there", "# not a comment", "\x01ctl",
		"/srv/pgdata/15/main", "wal-push %p", "a''b",
	} {
		line := "x = " + QuoteValue(v) + " # trailing comment"
		s, err := ParseExtraConf(line)
		if err != nil {
			t.Fatalf("%q: parse %q: %v", v, line, err)
		}
		got, _ := s.Get("x")
		if got != v {
			t.Errorf("round trip of %q through %q gave %q", v, line, got)
		}
	}
	if got := QuoteValue("it's"); got != "'it''s'" {
		t.Errorf("QuoteValue(it's) = %s", got)
	}
	if got := QuoteValue(`a\b`); got != `'a\\b'` {
		t.Errorf(`QuoteValue(a\b) = %s`, got)
	}
}

func TestRenderConf(t *testing.T) {
	var s Settings
	s.Set("Listen_Addresses", "*")
	s.Set("log_line_prefix", "%t [%p]: db=%d,user=%u ")
	s.Set("listen_addresses", "10.0.0.1") // replaces in place
	got, err := RenderConf("hdr", s)
	if err != nil {
		t.Fatal(err)
	}
	want := "# hdr\nlisten_addresses = '10.0.0.1'\nlog_line_prefix = '%t [%p]: db=%d,user=%u '\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"bad name", "x;y", "include", "1abc", ""} {
		if _, err := RenderConf("", Settings{{bad, "v"}}); err == nil {
			t.Errorf("RenderConf accepted name %q", bad)
		}
	}
}

func TestParseExtraConf(t *testing.T) {
	text := `# the original charm's defaults
listen_addresses='*'
ssl=true
log_line_prefix='%t [%p]: [%l-1] db=%d,user=%u '

max_connections 200   # no equals sign
shared_buffers = 128MB
auto_explain.log_min_duration = '1s'
search_path = '"$user", public'
escaped = 'a\'b'
MAX_CONNECTIONS = 300
`
	s, err := ParseExtraConf(text)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		{"listen_addresses", "*"}, {"ssl", "true"}, {"log_line_prefix", "%t [%p]: [%l-1] db=%d,user=%u "},
		{"max_connections", "300"}, {"shared_buffers", "128MB"}, {"auto_explain.log_min_duration", "1s"},
		{"search_path", `"$user", public`}, {"escaped", "a'b"},
	}
	if len(s) != len(want) {
		t.Fatalf("got %v, want %v", s, want)
	}
	for i := range want {
		if s[i] != want[i] {
			t.Errorf("setting %d: got %v, want %v", i, s[i], want[i])
		}
	}
	for _, tc := range []struct{ text, msg string }{
		{"a = 1\nwork_mem = 4 MB\n", "line 2"},
		{"x = 'unterminated\n", "line 1 (x = 'unterminated): unterminated quoted string"},
		{"\n\nmax_connections =\n", "line 3"},
		{"include '/etc/passwd'", "include directives are not allowed"},
		{"= 5", "expected a parameter name"},
		{"a-b = 5", "line 1"},
	} {
		_, err := ParseExtraConf(tc.text)
		var se *ConfSyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseExtraConf(%q) error = %v, want one containing %q", tc.text, err, tc.msg)
		}
	}
}
