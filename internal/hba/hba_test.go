package hba

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	rules := []Rule{
		{Type: "hostssl", Database: "app db", User: `we"ird`, Address: "10.1.2.3", Method: "scram-sha-256"},
		{Type: "host", Database: Replication, User: "repl", Address: "fd00::1", Method: "scram-sha-256"},
		{Type: "host", Database: "all", User: "all", Address: "192.168.0.0/16", Method: "md5"},
		{Raw: "host all admin 10.0.0.0/8 scram-sha-256\n"},
		{Type: "host", Database: All, User: All, Address: "::ffff:10.0.0.7", Method: "reject"},
	}
	got, err := Render(rules)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	want := []string{
		"local\tall\tpostgres\tpeer\tmap=juju",
		"local\treplication\tpostgres\tpeer\tmap=juju",
		"hostssl\t\"app db\"\t\"we\"\"ird\"\t10.1.2.3/32\tscram-sha-256",
		"host\treplication\t\"repl\"\tfd00::1/128\tscram-sha-256",
		"host\t\"all\"\t\"all\"\t192.168.0.0/16\tmd5",
		"host all admin 10.0.0.0/8 scram-sha-256",
		"host\tall\tall\t10.0.0.7/32\treject",
		"# Everything else is refused.",
		"local\tall\tall\treject",
		"host\tall\tall\t0.0.0.0/0\treject",
		"host\tall\tall\t::/0\treject",
		"local\treplication\tall\treject",
		"host\treplication\tall\t0.0.0.0/0\treject",
		"host\treplication\tall\t::/0\treject",
	}
	var body []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "# ") || l == "# Everything else is refused." {
			body = append(body, l)
		}
	}
	if strings.Join(body, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(body, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []Rule{
		{Type: "host", Database: "d", User: "u", Address: "10.0.0.300", Method: "md5"},
		{Type: "host", Database: "d", User: "u", Address: "example.com", Method: "md5"},
		{Type: "host", Database: "d", User: "u", Address: "10.0.0.0/33", Method: "md5"},
		{Type: "host", Database: "d\nhost all all 0.0.0.0/0 trust", User: "u", Address: "10.0.0.1", Method: "md5"},
		{Type: "host", Database: "d", User: "", Address: "10.0.0.1", Method: "md5"},
		{Type: "host", Database: "d", User: "u", Address: "10.0.0.1", Method: "md5 trust"},
		{Type: "local", Database: "d", User: "u", Address: "10.0.0.1", Method: "peer"},
		{Type: "hosts", Database: "d", User: "u", Address: "10.0.0.1", Method: "md5"},
		{Type: "local", Database: "d", User: "u", Method: "peer", Options: "map=x\nhost"},
	} {
		if _, err := Render([]Rule{bad}); err == nil {
			t.Errorf("Render accepted %+v", bad)
		}
	}
	if a, err := Address("10.1.2.3/8"); err != nil || a != "10.0.0.0/8" {
		t.Errorf("Address(10.1.2.3/8) = %q, %v", a, err)
	}
}

func TestCheckRaw(t *testing.T) {
	if err := CheckRaw(goodRawHBA); err != nil {
		t.Errorf("good lines refused: %v", err)
	}
	for _, tc := range []struct{ text, msg string }{
		{"host all all 10.0.0.0/8 scram", `line 1 (host all all 10.0.0.0/8 scram): unknown authentication method "scram"`},
		{"\nhosts all all 10.0.0.0/8 md5", `line 2`},
		{"host all all 10.0.0.0/8", "missing fields"},
		{"host all all 10.0.0.0/33 md5", "invalid address"},
		{"host all all 10.0.0.1 md5", "address 10.0.0.1 needs a /prefix length or a netmask"},
		{"host all all 10.0.0.1", "missing fields"},
		{"host all all ::1/128 md5 clientcert=verify-ca", "clientcert only works on hostssl lines"},
		{`host "all all 10.0.0.0/8 md5`, "unterminated double quote"},
		{"local all", "missing fields"},
		{"host all all fd00::1::2 md5", "invalid address"},
	} {
		err := CheckRaw(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("CheckRaw(%q) = %v, want %q", tc.text, err, tc.msg)
		}
	}
	if _, err := Render([]Rule{{Raw: "host all all 0.0.0.0/0 trustme"}}); err == nil {
		t.Error("Render accepted a bad raw line")
	}
}

// goodRawHBA holds lines the server accepts (internal/postgres TestHBAAndTLS loads the same ones).
var goodRawHBA = `# admins
host all admin 10.0.0.0/8 scram-sha-256
hostssl "my db" "we""ird # user" 192.168.1.1 255.255.255.255 md5
host all all db.example.com scram-sha-256  # a host name
local all all peer map=x
hostssl replication repl fd00::/64 scram-sha-256 clientcert=verify-ca

`
