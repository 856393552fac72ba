package archive_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/archive"
)

// benchLog is n bytes of log lines that vary like real ones (timestamps,
// levels, request ids, latencies), compressing about 5 to 1 with deflate.
func benchLog(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	msgs := []string{"request served", "cache miss for key", "connection reset by peer", "retrying upstream call",
		"user session refreshed", "slow query detected", "GC pause"}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2024-03-%02d %02d:%02d:%02d.%03d %-5s [worker-%d] %s id=%016x took=%dms\n",
			1+i/86400%28, i/3600%24, i/60%60, i%60, r.IntN(1000), levels[r.IntN(len(levels))], r.IntN(16),
			msgs[r.IntN(len(msgs))], r.Uint64(), r.IntN(2000))
	}
	return b.Bytes()[:n]
}

// benchArchives is 64 MiB of logs in 16 members, as a zip and as a tar.gz.
func benchArchives(b *testing.B) map[string][]byte {
	var es []entry
	for i := range 16 {
		es = append(es, entry{name: fmt.Sprintf("var/log/app-%02d.log", i), data: benchLog(4<<20, uint64(i))})
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(tarOf(b, es...))
	zw.Close()
	return map[string][]byte{"zip": zipOf(b, es...), "tar.gz": gzBuf.Bytes()}
}

// BenchmarkUnpack measures uncompressed bytes delivered per second (the
// MB/s column is of uncompressed bytes); BenchmarkUnpackBaseline is the
// bare standard library decompressing the same archive with nothing
// checked, for the ratio.
func BenchmarkUnpack(b *testing.B) {
	for format, data := range benchArchives(b) {
		b.Run(format, func(b *testing.B) {
			var out int64
			for b.Loop() {
				out = 0
				err := archive.Walk(context.Background(), "logs."+format, bytes.NewReader(data), int64(len(data)),
					archive.DefaultLimits(), func(m archive.Member, r io.Reader) error {
						n, err := io.Copy(io.Discard, r)
						out += n
						return err
					})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(out)
			b.ReportMetric(float64(len(data))/float64(out), "packed/unpacked")
		})
	}
}

// BenchmarkUnpackVsBare runs Walk and the bare standard library in turns
// within each iteration, so that a machine busy with other work slows both
// alike; it reports both rates and their ratio.
func BenchmarkUnpackVsBare(b *testing.B) {
	for format, data := range benchArchives(b) {
		b.Run(format, func(b *testing.B) {
			var ours, bare time.Duration
			var out int64
			for b.Loop() {
				t0 := time.Now()
				out = 0
				err := archive.Walk(context.Background(), "logs."+format, bytes.NewReader(data), int64(len(data)),
					archive.DefaultLimits(), func(m archive.Member, r io.Reader) error {
						n, err := io.Copy(io.Discard, r)
						out += n
						return err
					})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if n := bareUnpack(b, format, data); n != out {
					b.Fatalf("bare read %d bytes, Walk %d", n, out)
				}
				ours += t1.Sub(t0)
				bare += time.Since(t1)
			}
			mb := float64(out) * float64(b.N) / 1e6
			b.ReportMetric(mb/ours.Seconds(), "MB/s-walk")
			b.ReportMetric(mb/bare.Seconds(), "MB/s-bare")
			b.ReportMetric(bare.Seconds()/ours.Seconds(), "walk/bare-speed")
		})
	}
}

// BenchmarkManyMembers is 20,000 small deflated members: the per-member
// cost (a decompressor, buffers, a sniff) rather than inflate's.
func BenchmarkManyMembers(b *testing.B) {
	es := make([]entry, 20_000)
	for i := range es {
		es[i] = entry{name: fmt.Sprintf("logs/%05d.log", i), data: benchLog(200, uint64(i))}
	}
	data := zipOf(b, es...)
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := archive.Walk(context.Background(), "many.zip", bytes.NewReader(data), int64(len(data)), archive.DefaultLimits(),
				func(m archive.Member, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			bareUnpack(b, "zip", data)
		}
	})
}
