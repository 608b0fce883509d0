package postgres

import (
	"strings"
	"testing"
)

func TestScramVerifier(t *testing.T) {
	v, err := scramVerifier("s3cret:pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") || strings.Contains(v, "s3cret") {
		t.Fatalf("verifier %q", v)
	}
	if !scramMatches(v, "s3cret:pw") || scramMatches(v, "s3cret:pX") || scramMatches("md5abc", "s3cret:pw") {
		t.Error("scramMatches is wrong")
	}
}

func TestPassfileAndConninfo(t *testing.T) {
	u := Upstream{Host: "10.0.0.1", Port: 5432, User: "repl", Password: `pa:ss\word`, AppName: "postgresql/1"}
	if got, want := passfileLine(u), `10.0.0.1:5432:*:repl:pa\:ss\\word`+"\n"; got != want {
		t.Errorf("passfileLine = %q, want %q", got, want)
	}
	ci := u.conninfo("/etc/x y/pass", "postgres")
	if strings.Contains(ci, "pa:ss") {
		t.Errorf("conninfo holds the password: %s", ci)
	}
	want := `host=10.0.0.1 port=5432 user=repl passfile='/etc/x y/pass' dbname=postgres sslmode=prefer application_name=postgresql/1`
	if ci != want {
		t.Errorf("conninfo = %s, want %s", ci, want)
	}
}

func TestParseDatabasePrivileges(t *testing.T) {
	p, err := ParseDatabasePrivileges(" connect, temporary ")
	if err != nil || strings.Join(p, ",") != "CONNECT,TEMPORARY" {
		t.Errorf("got %v, %v", p, err)
	}
	if _, err := ParseDatabasePrivileges("ALL; DROP TABLE x"); err == nil {
		t.Error("accepted an injection")
	}
}

func TestParseControlData(t *testing.T) {
	out := `pg_control version number:            1300
Database system identifier:           7312345678901234567
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/3000060
Latest checkpoint's TimeLineID:       2
Minimum recovery ending location:     0/3000108
Data page checksum version:           1
`
	d, err := parseControlData(out)
	if err != nil {
		t.Fatal(err)
	}
	if d.SystemIdentifier != "7312345678901234567" || d.State != "shut down in recovery" || d.TimelineID != 2 ||
		d.CheckpointLSN != 0x3000060 || d.MinRecoveryLSN != 0x3000108 || !d.Checksums {
		t.Errorf("got %+v", d)
	}
}

// goodRawHBA holds lines the server accepts (TestHBAAndTLS loads them; internal/hba's TestCheckRaw checks the same ones).
var goodRawHBA = `# admins
host all admin 10.0.0.0/8 scram-sha-256
hostssl "my db" "we""ird # user" 192.168.1.1 255.255.255.255 md5
host all all db.example.com scram-sha-256  # a host name
local all all peer map=x
hostssl replication repl fd00::/64 scram-sha-256 clientcert=verify-ca

`

func TestStartMode(t *testing.T) {
	for conf, want := range map[string]string{
		"auto\n": "auto",
		"# Automatic startup configuration\n#   auto: automatically start the cluster\n#\nmanual\n": "manual",
		"  disabled  \n":    "disabled",
		"# only comments\n": "",
	} {
		if got := startMode(conf); got != want {
			t.Errorf("startMode(%q) = %q, want %q", conf, got, want)
		}
	}
}
