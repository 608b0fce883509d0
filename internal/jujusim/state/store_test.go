package state

import (
	"sync"
	"testing"
)

// TestConcurrentUpdates checks that the flock serialises read-modify-write cycles.
func TestConcurrentUpdates(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				if err := st.Update(func(s *State) error { s.NextSeq(); return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	_ = st.View(func(s *State) error {
		if s.Seq != 200 {
			t.Errorf("seq %d after 200 updates", s.Seq)
		}
		return nil
	})
}

func TestUnitQueue(t *testing.T) {
	u := &Unit{}
	ch := Event{Kind: "relation-changed", Rel: 1, RemoteUnit: "a/0"}
	u.Enqueue(Event{Kind: "relation-joined", Rel: 1, RemoteUnit: "a/0"})
	u.Enqueue(ch)
	u.Enqueue(ch)
	u.Enqueue(Event{Kind: "relation-departed", Rel: 1, RemoteUnit: "a/0"})
	u.Enqueue(Event{Kind: "relation-departed", Rel: 1, RemoteUnit: "a/0"})
	if len(u.Queue) != 4 {
		t.Errorf("changed coalesces, departed does not: %v", u.Queue)
	}
	u.Failed = &u.Queue[0]
	u.Drop(func(Event) bool { return true })
	if len(u.Queue) != 1 || u.Queue[0].Kind != "relation-joined" {
		t.Errorf("the failed head survives Drop: %v", u.Queue)
	}
	if !UnitLess("pg/2", "pg/10") || UnitLess("pg/10", "pg/2") || !UnitLess("a/9", "b/0") {
		t.Error("UnitLess orders by app then number")
	}
}
