package plan

import (
	"reflect"
	"testing"
	"time"
)

func TestDecideOldData(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	copies := []OldCopy{{Path: "/srv/pgdata/16/main.moved-a", Time: t0, Bytes: 3 << 20},
		{Path: "/srv/pgdata/16/main.moved-b", Time: t0.Add(time.Hour), Bytes: 512}}
	cases := []struct {
		name   string
		newest time.Time
		want   OldDataPlan
	}{
		{"no backup: everything kept", time.Time{}, OldDataPlan{Note: "old data kept until the next base backup: " +
			"/srv/pgdata/16/main.moved-a (3.0 MiB), /srv/pgdata/16/main.moved-b (512 B)"}},
		{"a backup between them", t0.Add(time.Minute), OldDataPlan{Remove: []string{"/srv/pgdata/16/main.moved-a"},
			Note: "old data kept until the next base backup: /srv/pgdata/16/main.moved-b (512 B)"}},
		{"a backup after both", t0.Add(2 * time.Hour), OldDataPlan{Remove: []string{"/srv/pgdata/16/main.moved-a", "/srv/pgdata/16/main.moved-b"}}},
		{"a backup at the very moment is not newer", t0.Add(time.Hour), OldDataPlan{Remove: []string{"/srv/pgdata/16/main.moved-a"},
			Note: "old data kept until the next base backup: /srv/pgdata/16/main.moved-b (512 B)"}},
	}
	for _, tc := range cases {
		if got := DecideOldData(copies, tc.newest); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	o := settledPrimary()
	o.OldData, o.NewestBackup = copies, t0.Add(time.Minute)
	d := Decide(o)
	if !reflect.DeepEqual(d.OldData, DecideOldData(copies, o.NewestBackup)) ||
		d.Status.Message != "Live master (16.4); old data kept until the next base backup: /srv/pgdata/16/main.moved-b (512 B)" {
		t.Errorf("through Decide: %+v %+v", d.OldData, d.Status)
	}
}
