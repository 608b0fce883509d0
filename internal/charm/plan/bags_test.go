package plan

import (
	"reflect"
	"testing"

	"github.com/pgcharm/postgresql/internal/wal"
)

// TestUnitReportHistory: a primary's timeline history goes through its unit bag to the
// standbys' Target (its newest entries, so the bag stays small), and a history that does
// not read stops where it stops reading, never longer.
func TestUnitReportHistory(t *testing.T) {
	var h []wal.HistoryEntry
	for tli := uint32(1); tli <= 11; tli++ {
		h = append(h, wal.HistoryEntry{TLI: tli, SwitchLSN: wal.LSN(tli) << 24})
	}
	d := UnitReport{Address: "10.1.0.2", Role: RolePrimary, HasData: true, Timeline: 12, History: h}.Data()
	if d[KeyHistory] != "4:0/4000000 5:0/5000000 6:0/6000000 7:0/7000000 8:0/8000000 9:0/9000000 10:0/A000000 11:0/B000000" {
		t.Fatalf("history field %q", d[KeyHistory])
	}
	rep, _ := ParseUnitReport("pg/0", d)
	if !reflect.DeepEqual(rep.History, h[3:]) {
		t.Errorf("read back %+v", rep.History)
	}
	o := Observed{Unit: "pg/1", Peers: map[string]map[string]string{"pg/0": d}}
	if got := target(o, "pg/0"); got.Timeline != 12 || !reflect.DeepEqual(got.History, h[3:]) {
		t.Errorf("target %+v", got)
	}
	if got := ParseHistoryField("1:0/3000000 two:0/5000000 3:0/7000000"); !reflect.DeepEqual(got, []wal.HistoryEntry{{TLI: 1, SwitchLSN: 0x3000000}}) {
		t.Errorf("a bad entry: %+v", got)
	}
	if d := (UnitReport{Role: RoleStandby, Timeline: 1}).Data(); d[KeyHistory] != "" {
		t.Errorf("a standby's history field %q", d[KeyHistory])
	}
}
