package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/blob/s3test"
)

// BenchmarkStore puts and reads back a 64 MiB object in the FS store and in
// the S3 store against versitygw on loopback (its posix backend writing to
// the same disk), for the ratio of S3 to FS. The S3 store uses its default
// 16 MiB parts.
func BenchmarkStore(b *testing.B) {
	data, _ := content(64<<20, 99)
	stores := map[string]func(b *testing.B) blob.Store{
		"fs": func(b *testing.B) blob.Store {
			s, err := blob.NewFS(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"s3": func(b *testing.B) blob.Store {
			srv := s3test.Start(b)
			s, err := blob.NewS3(context.Background(), srv.Config("", "bench"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"fs", "s3"} {
		b.Run("put/"+name, func(b *testing.B) {
			s := stores[name](b)
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("%064x", i)
				i++
				if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Delete(ctx, key)
				b.StartTimer()
			}
		})
		b.Run("get/"+name, func(b *testing.B) {
			s := stores[name](b)
			ctx := context.Background()
			key := fmt.Sprintf("%064x", 1)
			if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				o, err := s.Open(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, o); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d, %v", n, err)
				}
				o.Close()
			}
		})
	}
}
