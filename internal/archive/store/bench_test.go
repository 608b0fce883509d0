package store_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/pgcharm/postgresql/internal/archive/store"
	"github.com/pgcharm/postgresql/internal/storetest"
)

// BenchmarkStores measures Put and Get throughput per backend on its test server for a WAL-sized
// object (16 MiB) and a backup-part-sized one (256 MiB).
func BenchmarkStores(b *testing.B) {
	ctx := context.Background()
	for _, srv := range storetest.All(b, "127.0.0.1") {
		s, err := store.Open(ctx, srv.URI("bench", "p"), srv.Creds)
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int64{16 << 20, 256 << 20} {
			name := fmt.Sprintf("obj-%d", size)
			b.Run(fmt.Sprintf("%s/Put/%dMiB", srv.Name, size>>20), func(b *testing.B) {
				b.SetBytes(size)
				for i := 0; b.Loop(); i++ {
					if err := s.Put(ctx, name, source(uint64(i), size)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/Get/%dMiB", srv.Name, size>>20), func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					r, err := s.Get(ctx, name)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, r)
					r.Close()
					if err != nil || n != size {
						b.Fatalf("read %d of %d bytes: %v", n, size, err)
					}
				}
			})
		}
	}
}
