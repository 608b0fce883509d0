package engine

import (
	"reflect"
	"testing"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func TestParseStorageDirective(t *testing.T) {
	for in, want := range map[string]state.StorageDirective{
		"ebs,50G":    {Pool: "ebs", SizeMiB: 51200},
		"1G":         {SizeMiB: 1024},
		"512M,2":     {SizeMiB: 512, Count: 2},
		"rootfs":     {Pool: "rootfs"},
		"tmpfs,1.5G": {Pool: "tmpfs", SizeMiB: 1536},
	} {
		got, err := parseStorageDirective(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	if _, err := parseStorageDirective("0X"); err == nil {
		t.Error("0X should not parse")
	}
}

func TestParseActionParams(t *testing.T) {
	got, err := ParseActionParams([]string{"storage-uri=swift://walex_1", "target-time=2017-08-29 13:32:41.000000+00", "confirm=true", "n=3", "a.b=c"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"storage-uri": "swift://walex_1", "target-time": "2017-08-29 13:32:41.000000+00", "confirm": true, "n": 3, "a": map[string]any{"b": "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if _, err := ParseActionParams([]string{"novalue"}); err == nil {
		t.Error("novalue should fail")
	}
}

func TestAliases(t *testing.T) {
	r := &state.Relation{Sides: []*state.RelSide{{App: "postgresql", Alias: "remote-abc"}, {App: "client", Alias: "client-db"}}}
	if got := r.RemoteName(0, "postgresql/1"); got != "remote-abc/1" {
		t.Errorf("RemoteName: %s", got)
	}
	if got, ok := r.RealName(1, "client-db/0"); !ok || got != "client/0" {
		t.Errorf("RealName: %s %v", got, ok)
	}
	if _, ok := r.RealName(1, "client/0"); ok {
		t.Error("the real name must not resolve through an alias")
	}
}
