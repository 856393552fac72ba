package logparse

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchInputs generates about 4 MiB per format of realistic lines: varied
// levels, components, ids and numbers, a stack trace now and then.
func benchInputs() map[string][]byte {
	const size = 4 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	comps := []string{"org.example.db.Pool", "org.example.api.Handler", "com.acme.cache.Store", "io.netty.Channel"}
	msgs := []string{
		"Connection %d established to 10.0.%d.%d:5432 in %d ms",
		"Request %x completed with status %d after %d ms",
		"Cache miss for key user:%d (size %d, evictions %d)",
		"Retrying job %d attempt %d of 5 after %d ms backoff",
	}
	msg := func() string {
		return fmt.Sprintf(msgs[rng.IntN(len(msgs))], rng.IntN(100000), rng.IntN(256), rng.IntN(256), rng.IntN(1000))
	}
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	gen := func(line func(i int, t time.Time) string) []byte {
		var b bytes.Buffer
		for i := 0; b.Len() < size; i++ {
			b.WriteString(line(i, t0.Add(time.Duration(i)*37*time.Millisecond)))
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	lv := func() string { return levels[rng.IntN(len(levels))] }
	return map[string][]byte{
		"header": gen(func(i int, t time.Time) string {
			s := fmt.Sprintf("%s %s [worker-%d] %s: %s", t.Format("2006-01-02 15:04:05,000"), lv(), i%8, comps[i%4], msg())
			if i%200 == 199 {
				s += "\njava.lang.IllegalStateException: pool exhausted\n\tat org.example.db.Pool.get(Pool.java:42)\n\tat org.example.api.Handler.run(Handler.java:7)\nCaused by: java.net.ConnectException: refused\n\t... 12 more"
			}
			return s
		}),
		"syslog": gen(func(i int, t time.Time) string {
			return fmt.Sprintf("%s web-%d sshd[%d]: %s", t.Format("Jan _2 15:04:05"), i%3, 1000+i%500, msg())
		}),
		"json": gen(func(i int, t time.Time) string {
			return fmt.Sprintf(`{"time":"%s","level":"%s","logger":"%s","msg":"%s","request_id":"%08x","duration_ms":%d}`,
				t.Format(time.RFC3339Nano), lv(), comps[i%4], msg(), rng.Uint32(), rng.IntN(1000))
		}),
		"logfmt": gen(func(i int, t time.Time) string {
			return fmt.Sprintf(`time=%s level=%s component=%s msg="%s" request_id=%08x duration=%dms`,
				t.Format(time.RFC3339), lv(), comps[i%4], msg(), rng.Uint32(), rng.IntN(1000))
		}),
		"access": gen(func(i int, t time.Time) string {
			return fmt.Sprintf(`10.0.%d.%d - - [%s] "GET /api/v1/items/%d HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
				rng.IntN(256), rng.IntN(256), t.Format("02/Jan/2006:15:04:05 -0700"), rng.IntN(10000),
				[]int{200, 200, 200, 304, 404, 500}[rng.IntN(6)], rng.IntN(50000))
		}),
		"klog": gen(func(i int, t time.Time) string {
			return fmt.Sprintf("%c%s %7d controller.go:%d] %s", "IIIWE"[rng.IntN(5)], t.Format("0102 15:04:05.000000"), 1234, rng.IntN(500), msg())
		}),
		"postgres": gen(func(i int, t time.Time) string {
			return fmt.Sprintf("%s UTC [%d] %s:  %s", t.Format("2006-01-02 15:04:05.000"), 4000+i%50,
				[]string{"LOG", "LOG", "ERROR", "WARNING"}[rng.IntN(4)], msg())
		}),
		"plain": gen(func(i int, t time.Time) string { return msg() }),
	}
}

func BenchmarkReader(b *testing.B) {
	inputs := benchInputs()
	for _, name := range []string{"header", "syslog", "json", "logfmt", "access", "klog", "postgres", "plain"} {
		data := inputs[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				readBench(b, data, name)
			}
		})
	}
}

func readBench(b *testing.B, data []byte, name string) int {
	rd := NewReader(bytes.NewReader(data), name, Options{Year: 2024})
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkReaderLoghub reads the 16 Loghub-2k logs (3.9 MB together), each
// with its own reader as the engine does, and concatenated into one stream.
// It skips without the data set.
func BenchmarkReaderLoghub(b *testing.B) {
	dir := loghubDir(b)
	var files [][]byte
	total := 0
	for _, d := range loghubDatasets {
		data, err := os.ReadFile(filepath.Join(dir, d, d+"_2k.log"))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
		total += len(data)
	}
	b.Run("per-file", func(b *testing.B) {
		b.SetBytes(int64(total))
		b.ReportAllocs()
		for b.Loop() {
			for i, data := range files {
				readBench(b, data, loghubDatasets[i])
			}
		}
	})
	// All 16 as one stream (cat */*.log): one detected format, the others
	// parsed by the per-line fallbacks.
	all := bytes.Join(files, []byte("\n"))
	b.Run("concatenated", func(b *testing.B) {
		b.SetBytes(int64(len(all)))
		b.ReportAllocs()
		for b.Loop() {
			readBench(b, all, "loghub-all.log")
		}
	})
}

// TestWriteBenchInputs writes the generated inputs to $LOGPARSE_BENCH_OUT
// (for timing wc -l on the same bytes); it skips otherwise.
func TestWriteBenchInputs(t *testing.T) {
	out := os.Getenv("LOGPARSE_BENCH_OUT")
	if out == "" {
		t.Skip("set LOGPARSE_BENCH_OUT to write the benchmark inputs")
	}
	for name, data := range benchInputs() {
		if err := os.WriteFile(filepath.Join(out, name+".log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
