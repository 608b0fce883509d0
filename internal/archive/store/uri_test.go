package store_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive/store"
)

func TestParseURI(t *testing.T) {
	good := []struct {
		in   string
		want store.URI
		str  string
	}{
		{"s3://bucket/prefix", store.URI{Scheme: "s3", Bucket: "bucket", Prefix: "prefix"}, "s3://bucket/prefix"},
		{"s3://bucket", store.URI{Scheme: "s3", Bucket: "bucket"}, "s3://bucket"},
		{"s3://bucket/", store.URI{Scheme: "s3", Bucket: "bucket"}, "s3://bucket"},
		{"S3://bucket/a/b/", store.URI{Scheme: "s3", Bucket: "bucket", Prefix: "a/b"}, "s3://bucket/a/b"},
		{" s3://bucket//a//b ", store.URI{Scheme: "s3", Bucket: "bucket", Prefix: "a/b"}, "s3://bucket/a/b"},
		{"swift://container/pg/main", store.URI{Scheme: "swift", Bucket: "container", Prefix: "pg/main"}, "swift://container/pg/main"},
		{"azure://cont/p", store.URI{Scheme: "azure", Bucket: "cont", Prefix: "p"}, "azure://cont/p"},
		{"wabs://cont/p", store.URI{Scheme: "wabs", Bucket: "cont", Prefix: "p"}, "wabs://cont/p"},
		{"gs://bucket/x", store.URI{Scheme: "gs", Bucket: "bucket", Prefix: "x"}, "gs://bucket/x"},
		{"file:///var/lib/archive", store.URI{Scheme: "file", Path: "/var/lib/archive"}, "file:///var/lib/archive"},
		{"file:///var/lib/archive/", store.URI{Scheme: "file", Path: "/var/lib/archive"}, "file:///var/lib/archive"},
		{"file:///a%20b", store.URI{Scheme: "file", Path: "/a b"}, "file:///a b"},
	}
	for _, c := range good {
		got, err := store.ParseURI(c.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", c.in, err)
			continue
		}
		if got != c.want || got.String() != c.str {
			t.Errorf("ParseURI(%q) = %+v (%s), want %+v (%s)", c.in, got, got, c.want, c.str)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "empty"},
		{"bucket/prefix", "no scheme"},
		{"ftp://host/x", `unknown scheme "ftp"`},
		{"s3://", "no bucket"},
		{"s3:///prefix", "no bucket"},
		{"gs:///x", "no bucket"},
		{"file://relative/path", "absolute path"},
		{"file://", "absolute path"},
		{"s3://key:secret@bucket/x", "credentials"},
		{"s3://bucket/a/../b", ".."},
		{"s3://bucket/x?region=eu", "query"},
	}
	for _, c := range bad {
		_, err := store.ParseURI(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseURI(%q) = %v, want an error mentioning %q", c.in, err, c.msg)
		}
	}
}

func TestMissingCredentials(t *testing.T) {
	swiftBase := store.Credentials{OSAuthURL: "https://keystone:5000/v3", OSUsername: "u", OSPassword: "p"}
	with := func(c store.Credentials, f func(*store.Credentials)) store.Credentials { f(&c); return c }
	cases := []struct {
		uri  string
		c    store.Credentials
		want []string
	}{
		{"file:///x", store.Credentials{}, nil},
		{"s3://b", store.Credentials{}, []string{"aws_access_key_id", "aws_secret_access_key"}},
		{"s3://b", store.Credentials{AWSAccessKeyID: "k"}, []string{"aws_secret_access_key"}},
		{"s3://b", store.Credentials{AWSAccessKeyID: "k", AWSSecretAccessKey: "s"}, nil},
		{"s3://b", store.Credentials{AWSAccessKeyID: " ", AWSSecretAccessKey: "s"}, []string{"aws_access_key_id"}},
		{"azure://c", store.Credentials{}, []string{"wabs_account_name", "wabs_access_key"}},
		{"wabs://c", store.Credentials{WABSAccountName: "a", WABSAccessKey: "k"}, nil},
		{"gs://b", store.Credentials{}, []string{"gcs_credentials"}},
		{"gs://b", store.Credentials{GCSEndpoint: "http://127.0.0.1:4443"}, nil},
		{"gs://b", store.Credentials{GCSCredentials: "{}"}, nil},
		{"swift://c", store.Credentials{}, []string{"os_auth_url", "os_username", "os_password"}},
		// Keystone v3 (from the URL): project and user domain needed.
		{"swift://c", swiftBase, []string{"os_project_name", "os_user_domain_name"}},
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSProjectName = "p"; c.OSUserDomainName = "Default" }), nil},
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSTenantName = "p"; c.OSUserDomainName = "Default" }), nil},
		// Keystone v2 (explicit version wins over the URL): a tenant is needed, domains are not.
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSIdentityAPIVersion = "2" }), []string{"os_tenant_name"}},
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSIdentityAPIVersion = "2.0"; c.OSTenantName = "t" }), nil},
		// tempauth v1: user and key only.
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSIdentityAPIVersion = "1" }), nil},
		{"swift://c", with(swiftBase, func(c *store.Credentials) { c.OSAuthURL = "http://proxy:8080/auth/v1.0" }), nil},
	}
	for _, c := range cases {
		u, err := store.ParseURI(c.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := store.MissingCredentials(u, c.c); !slices.Equal(got, c.want) {
			t.Errorf("MissingCredentials(%s, %+v) = %q, want %q", c.uri, c.c, got, c.want)
		}
	}
}

func TestOpenNamesMissingCredentials(t *testing.T) {
	_, err := store.Open(t.Context(), "s3://bucket/p", store.Credentials{AWSAccessKeyID: "k"})
	if err == nil || !strings.Contains(err.Error(), "aws_secret_access_key") {
		t.Errorf("Open without a secret: %v", err)
	}
}
