package drain

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkMinerLoghub mines the Content column of the 16 Loghub-2k logs,
// concatenated (32,000 messages), with a fresh default Miner per round;
// MB/s counts message bytes. Skipped when the data is absent.
func BenchmarkMinerLoghub(b *testing.B) {
	dir := loghubDir(b)
	var msgs []string
	size := 0
	for _, d := range loghubDatasets {
		for _, r := range readStructured(b, filepath.Join(dir, d, d+"_2k.log_structured_corrected.csv")) {
			msgs = append(msgs, r.content)
			size += len(r.content) + 1
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		m := New(Config{})
		for _, s := range msgs {
			m.Add(s)
		}
		m.Refine()
	}
	reportCPU(b, c0, size)
}

// reportCPU adds MB per CPU-second (see cpuSeconds).
func reportCPU(b *testing.B, c0 float64, size int) {
	if d := cpuSeconds() - c0; d > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/d/1e6, "MB/cpu-s")
	}
}

// BenchmarkMinerSteady is the steady state of a long log: the templates are
// known, messages keep coming (generated, no external data).
func BenchmarkMinerSteady(b *testing.B) {
	var msgs []string
	size := 0
	for i := 0; i < 4096; i++ {
		var s string
		switch i % 4 {
		case 0:
			s = fmt.Sprintf("Connection refused to 10.0.%d.%d:5432 after %dms (attempt %d of 5)", i%256, i%7, i%900, i%5)
		case 1:
			s = fmt.Sprintf("GET /api/jobs/%d HTTP/1.1 200 %d bytes in %d.%03ds user=u%d", i, i*13, i%3, i%1000, i%50)
		case 2:
			s = fmt.Sprintf("Received block blk_-%d of size %d from /10.251.%d.%d", 1000000007*i, 67108864-i, i%200, i%100)
		default:
			s = fmt.Sprintf("worker-%d finished task %08x in stage %d.0 (TID %d), took %.2f s", i%16, i*2654435761, i%9, i, float64(i%700)/7)
		}
		msgs = append(msgs, s)
		size += len(s) + 1
	}
	m := New(Config{})
	for _, s := range msgs {
		m.Add(s)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		for _, s := range msgs {
			m.Add(s)
		}
	}
	reportCPU(b, c0, size)
}

// BenchmarkBaselineFields is the floor to compare with, run side by side on
// the same messages: strings.Fields, which only splits at whitespace (the
// first thing any miner must do) and allocates a slice per message.
func BenchmarkBaselineFields(b *testing.B) {
	dir := loghubDir(b)
	var msgs []string
	size := 0
	for _, d := range loghubDatasets {
		for _, r := range readStructured(b, filepath.Join(dir, d, d+"_2k.log_structured_corrected.csv")) {
			msgs = append(msgs, r.content)
			size += len(r.content) + 1
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		for _, s := range msgs {
			n += len(strings.Fields(s))
		}
	}
	reportCPU(b, c0, size)
	_ = n
}

// BenchmarkMinerWordVariables: every message carries a user name never seen
// before (letters only, so masking cannot tell it is a variable): each one
// misses the cache and goes through the tree and the similarity.
func BenchmarkMinerWordVariables(b *testing.B) {
	const n = 4096
	msgs := make([]string, n)
	size := 0
	for i := range msgs {
		u := []byte("user")
		for k := i + 1; k > 0; k /= 26 {
			u = append(u, byte('a'+k%26))
		}
		msgs[i] = fmt.Sprintf("Failed password for invalid user %s from 10.%d.%d.%d port %d ssh2", u, i%256, i/256%256, i%7, 1024+i)
		size += len(msgs[i]) + 1
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		m := New(Config{})
		for _, s := range msgs {
			m.Add(s)
		}
	}
	reportCPU(b, c0, size)
}
