package postgres

import (
	"context"
	"testing"
)

// BenchmarkObserve measures what a settled unit's update-status costs on
// the PostgreSQL side: find the cluster, check it runs, connect and read
// the replication facts.
func BenchmarkObserve(b *testing.B) {
	v := requireServer(b)
	ctx := context.Background()
	c := newCluster(b, ctx, v)
	b.ResetTimer()
	for b.Loop() {
		cl, err := Lookup(v, c.Name)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := IsRunning(ctx, cl); err != nil || !ok {
			b.Fatal("not running", err)
		}
		db, err := Connect(ctx, cl, "postgres")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Facts(ctx); err != nil {
			b.Fatal(err)
		}
		db.Close(ctx)
	}
}

// BenchmarkIsRunning compares with pg_ctlcluster status (~50 ms).
func BenchmarkIsRunning(b *testing.B) {
	v := requireServer(b)
	ctx := context.Background()
	c := newCluster(b, ctx, v)
	for b.Loop() {
		if ok, err := IsRunning(ctx, c.Cluster); err != nil || !ok {
			b.Fatal("not running", err)
		}
	}
}
