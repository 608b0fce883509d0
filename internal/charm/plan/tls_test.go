package plan

import "testing"

func TestStatusWaitsForTheCA(t *testing.T) {
	want := Status{StatusWaiting, "Waiting for the leader to create the certificate authority"}
	if got := UnitStatus(StatusFacts{NoCA: true}); got != want {
		t.Errorf("no CA yet: %+v", got)
	}
	if got := UnitStatus(StatusFacts{NoSecret: true, NoCA: true}); got.Message != msgNoSecret {
		t.Errorf("no secret and no CA: %+v", got)
	}
}
