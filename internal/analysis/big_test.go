package analysis_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/loghubtest"
)

// genLog is an io.Reader of a realistic application log of n bytes, made on
// the fly (nothing is held in memory): steady traffic with variables, a
// benign warning all along, and at 60 % a single fatal line followed by a
// rising error, the incident the ranking must find at any size.
type genLog struct {
	n, done int64
	line    int64
	t       time.Time
	buf     []byte
	off     int
	fatal   bool
	seed    uint64
}

func newGenLog(n int64) *genLog {
	return &genLog{n: n, t: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), seed: 88172645463325252}
}

func (g *genLog) rnd() uint64 { // xorshift: deterministic and cheap
	g.seed ^= g.seed << 13
	g.seed ^= g.seed >> 7
	g.seed ^= g.seed << 17
	return g.seed
}

func (g *genLog) next() {
	g.line++
	g.t = g.t.Add(time.Millisecond)
	b := g.buf[:0]
	b = g.t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	r := g.rnd()
	after := g.done > g.n*6/10
	switch {
	case after && !g.fatal:
		g.fatal = true
		b = append(b, " FATAL [storage] volume /data is read-only: remounted after I/O error on sdb"...)
	case after && r%7 == 0:
		b = append(b, " ERROR [writer] write failed: read-only file system path=/data/segments/"...)
		b = strconv.AppendUint(b, r>>40, 10)
	case r%211 == 0:
		b = append(b, " WARN [db] slow query took "...)
		b = strconv.AppendUint(b, 500+r%900, 10)
		b = append(b, " ms: SELECT * FROM items WHERE id = "...)
		b = strconv.AppendUint(b, r>>45, 10)
	case r%5 == 0:
		b = append(b, " INFO [auth] user "...)
		b = strconv.AppendUint(b, r>>44, 10)
		b = append(b, " logged in from 10."...)
		b = strconv.AppendUint(b, r>>8&255, 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, r>>16&255, 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, r>>24&255, 10)
		b = append(b, " session="...)
		b = strconv.AppendUint(b, r>>12, 16)
	case r%3 == 0:
		b = append(b, " DEBUG [cache] cache miss for key product:"...)
		b = strconv.AppendUint(b, r>>42, 10)
		b = append(b, ", loading from db"...)
	case r%2 == 0:
		b = append(b, " INFO [batch] processed batch "...)
		b = strconv.AppendUint(b, uint64(g.line), 10)
		b = append(b, " of "...)
		b = strconv.AppendUint(b, 100+r%900, 10)
		b = append(b, " records in "...)
		b = strconv.AppendUint(b, r>>50, 10)
		b = append(b, " ms"...)
	default:
		b = append(b, " INFO [http] GET /api/orders/"...)
		b = strconv.AppendUint(b, r>>40, 10)
		b = append(b, " 200 "...)
		b = strconv.AppendUint(b, r%300, 10)
		b = append(b, "ms client=10.0."...)
		b = strconv.AppendUint(b, r>>8&255, 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, r>>16&255, 10)
	}
	b = append(b, '\n')
	g.buf, g.off = b, 0
}

func (g *genLog) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.done >= g.n {
			if n == 0 {
				return 0, io.EOF
			}
			break
		}
		if g.off == len(g.buf) {
			g.next()
		}
		rest := g.buf[g.off:]
		if left := g.n - g.done; int64(len(rest)) > left {
			rest = rest[:left]
		}
		c := copy(p[n:], rest)
		g.off += c
		n += c
		g.done += int64(c)
	}
	return n, nil
}

// heapPeak samples the heap while fn runs.
func heapPeak(fn func()) uint64 {
	// Start from a collected heap: what earlier tests left would otherwise
	// set the collector's pace (and the peak) for this one.
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// heapBound is what the engine may hold whatever the input size: its
// aggregates (bounded per signature), the miner's clusters, the parser's
// buffers, and the garbage between two collections.
const heapBound = 96 << 20

// A big log streams through with the heap bounded, and the incident in it is
// still found. 200 MB always (32 MB under the race detector); 2 GB with
// RCA_BIG=1.
func TestBigLogBoundedMemory(t *testing.T) {
	size := int64(200 << 20)
	if raceEnabled {
		size = 32 << 20
	}
	if os.Getenv("RCA_BIG") == "1" {
		size = 2 << 30
	}
	if testing.Short() {
		size = 16 << 20
	}
	var progress []analysis.Progress
	var r *analysis.Report
	var err error
	start := time.Now()
	peak := heapPeak(func() {
		r, err = analysis.Analyze(context.Background(), []analysis.Source{{Name: "big.log", Size: size,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(newGenLog(size)), nil }}},
			analysis.Options{Progress: func(p analysis.Progress) { progress = append(progress, p) }})
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MB in %v (%.1f MB/s), heap in use peak %d MB, %d signatures, %d progress calls",
		size>>20, elapsed.Round(time.Millisecond), float64(size)/1e6/elapsed.Seconds(), peak>>20, r.Metrics.Signatures, len(progress))
	if peak > heapBound {
		t.Errorf("heap in use peaked at %d MB, bound %d MB", peak>>20, heapBound>>20)
	}
	if r.Metrics.Bytes != size {
		t.Errorf("read %d bytes of %d", r.Metrics.Bytes, size)
	}
	if len(r.Causes) == 0 || !strings.Contains(r.Causes[0].Template, "read-only") {
		t.Errorf("top cause at %d MB:\n%s", size>>20, causesText(r))
	}
	// Progress: bytes never go back, the phases come in order, and the calls
	// are throttled (a few a second, plus one per phase change and file).
	var last int64
	for _, p := range progress {
		if p.BytesRead < last {
			t.Fatalf("progress went back: %d after %d", p.BytesRead, last)
		}
		last = p.BytesRead
	}
	if len(progress) == 0 || progress[len(progress)-1].Phase != "ranking" || last != size {
		t.Errorf("last progress %+v", progress[len(progress)-1])
	}
	if limit := int(elapsed/(200*time.Millisecond)) + 4; len(progress) > limit {
		t.Errorf("%d progress calls in %v", len(progress), elapsed)
	}
}

// TestWriteGenLog writes the generated log to a file for the command-line
// benchmarks (docs/benchmarks.md): RCA_GEN_OUT=/tmp/gen.log RCA_GEN_SIZE=1073741824.
func TestWriteGenLog(t *testing.T) {
	out := os.Getenv("RCA_GEN_OUT")
	if out == "" {
		t.Skip("set RCA_GEN_OUT (and RCA_GEN_SIZE, bytes) to write the generated log")
	}
	size, err := strconv.ParseInt(os.Getenv("RCA_GEN_SIZE"), 10, 64)
	if err != nil || size <= 0 {
		size = 1 << 30
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(f, newGenLog(size), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// reportCPU adds "MB/cpu-s": bytes per CPU-second of the process, what one
// core does whatever else the machine runs (wall-clock MB/s is shared with
// every other process on a busy box).
func reportCPU(b *testing.B, bytesPerOp int64, cpu0 float64) {
	if d := cpuSeconds() - cpu0; d > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/d, "MB/cpu-s")
	}
}

// BenchmarkAnalyze is the whole pipeline (read, parse, redact, mine, rank)
// on a generated 64 MB log.
func BenchmarkAnalyze(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		_, err := analysis.Analyze(context.Background(), []analysis.Source{{Name: "gen.log", Size: size,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(newGenLog(size)), nil }}}, analysis.Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, size, cpu0)
}

// BenchmarkGenerator is the generator alone, to subtract from the above.
func BenchmarkGenerator(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	buf := make([]byte, 64<<10)
	cpu0 := cpuSeconds()
	for b.Loop() {
		g := newGenLog(size)
		for {
			if _, err := g.Read(buf); err == io.EOF {
				break
			}
		}
	}
	reportCPU(b, size, cpu0)
}

// BenchmarkLoghub is the whole pipeline on each Loghub-2k log (skipped when
// ../shared is absent).
func BenchmarkLoghub(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(loghubtest.Dir(b), "*", "*_2k.log"))
	if len(files) == 0 {
		b.Skip("no Loghub-2k logs (set LOGHUB_DIR)")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(filepath.Dir(f)), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := cpuSeconds()
			defer func() { reportCPU(b, int64(len(data)), cpu0) }()
			for b.Loop() {
				_, err := analysis.Analyze(context.Background(), []analysis.Source{{Name: filepath.Base(f), Size: int64(len(data)),
					Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }}}, analysis.Options{})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnalyzeFile is the whole pipeline on the file named by
// RCA_BENCH_FILE (for profiles on real logs).
func BenchmarkAnalyzeFile(b *testing.B) {
	name := os.Getenv("RCA_BENCH_FILE")
	if name == "" {
		b.Skip("set RCA_BENCH_FILE")
	}
	st, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	defer func() { reportCPU(b, st.Size(), cpu0) }()
	for b.Loop() {
		_, err := analysis.Analyze(context.Background(), []analysis.Source{{Name: filepath.Base(name), Size: st.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(name) }}}, analysis.Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// wordsLog is a log of many distinct templates: line k spells k in base 5
// over seven word positions plus a parity word, so any two lines differ in at
// least two of their eight words (too far apart for the miner to merge) and no
// position has more than five values (nothing for its refinement to fold).
// The worst case for per-signature memory.
type wordsLog struct {
	lines, i int
	buf      []byte
	off      int
}

func (w *wordsLog) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if w.off == len(w.buf) {
			if w.i == w.lines {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			k := w.i
			w.i++
			b := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(w.i)*time.Millisecond).AppendFormat(w.buf[:0], time.RFC3339Nano)
			b = append(b, " INFO [words] "...)
			sum := 0
			for pos := 0; pos < 8; pos++ {
				v := k % 5
				k /= 5
				if pos == 7 {
					v = sum % 5
				}
				sum += v
				b = append(b, 'z', 'z', byte('g'+pos), byte('p'+v), 'i', 'n', 'g', ' ')
			}
			b[len(b)-1] = '\n'
			w.buf, w.off = b, 0
		}
		c := copy(p[n:], w.buf[w.off:])
		w.off += c
		n += c
	}
	return n, nil
}

// Tens of thousands of templates: the heap stays bounded (the miner caps its
// clusters; the engine keeps one example per signature past 5,000).
func TestManySignaturesBoundedMemory(t *testing.T) {
	// 20,000 distinct templates (past the 5,000 where examples shrink): the miner's cluster search is what takes
	// the time here, so the test stays at a size CI affords.
	lines := 20000
	if raceEnabled || testing.Short() {
		lines = 3000
	}
	var r *analysis.Report
	var err error
	peak := heapPeak(func() {
		r, err = analysis.Analyze(context.Background(), []analysis.Source{{Name: "words.log",
			Open: func() (io.ReadCloser, error) { return io.NopCloser(&wordsLog{lines: lines}), nil }}},
			analysis.Options{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d lines, %d signatures, heap in use peak %d MB", lines, r.Metrics.Signatures, peak>>20)
	if r.Metrics.Signatures < lines/2 {
		t.Fatalf("only %d signatures from %d distinct templates: the test no longer measures what it means to", r.Metrics.Signatures, lines)
	}
	if peak > 2*heapBound {
		t.Errorf("heap in use peaked at %d MB with %d signatures", peak>>20, r.Metrics.Signatures)
	}
	if len(r.Signatures) > 500+10 {
		t.Errorf("%d signatures listed, want at most 500 and the causes'", len(r.Signatures))
	}
}
