package plan

import (
	"reflect"
	"testing"
)

func TestSlotName(t *testing.T) {
	if got := SlotName("PostgreSQL-ha/12"); got != "postgresql_ha_12" {
		t.Errorf("SlotName = %q", got)
	}
}

func TestDecideSlots(t *testing.T) {
	o := settledPrimary()
	o.Peers[unitC] = map[string]string{KeyAddress: "10.0.0.3"}
	// A slot of a unit that left, one of another application and one of this unit's
	// own name (a former standby's).
	o.Slots = []string{"postgresql_1", "postgresql_7", "other_1", "postgresql_0"}
	d := Decide(o)
	want := SlotPlan{Keep: []string{"postgresql_1", "postgresql_2"}, Drop: []string{"postgresql_7", "postgresql_0"}}
	if !reflect.DeepEqual(d.Slots, want) {
		t.Errorf("primary: %+v, want %+v", d.Slots, want)
	}
	if d := Decide(settledStandby()); !reflect.DeepEqual(d.Slots, SlotPlan{}) {
		t.Errorf("standby: %+v", d.Slots)
	}
	// A primary that steps down keeps what it has until it follows.
	o.AppBag.Primary = unitB
	if d := Decide(o); !reflect.DeepEqual(d.Slots, SlotPlan{}) {
		t.Errorf("stepping down: %+v", d.Slots)
	}
}
