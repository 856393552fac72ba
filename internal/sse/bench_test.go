package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	r3 "github.com/r3labs/sse/v2"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/migrations"
)

// BenchmarkStreams compares this package's streams with r3labs/sse at its
// defaults (one shared stream, AutoReplay on, 1024-event buffer) in the same
// process and run:
//
//	go test ./internal/sse -run '^$' -bench Streams -benchtime 1x -timeout 30m
//
// Clients are raw TCP connections in the same process; the memory figures
// subtract what the same number of bare client connections costs.
// Latencies for this service run from just before the event's INSERT to
// its arrival at the client, so they include the commit and the Tailer's
// read; r3labs' run from its Publish call.
func BenchmarkStreams(b *testing.B) {
	ours := newOurs(b)
	// A new r3labs server for each run: its default replay log would
	// otherwise send every earlier event to each new subscriber.
	for _, target := range []func() streamTarget{func() streamTarget { return ours }, func() streamTarget { return newTheirs(b) }} {
		t := target()
		b.Run(t.name+"/idle-memory-5000", func(b *testing.B) { benchIdleMemory(b, t, 5000) })
	}
	for _, n := range []int{1000, 5000} {
		for _, target := range []func() streamTarget{func() streamTarget { return ours }, func() streamTarget { return newTheirs(b) }} {
			t := target()
			b.Run(fmt.Sprintf("%s/fan-out-%d", t.name, n), func(b *testing.B) { benchFanOut(b, t, n, 10) })
		}
	}
	for _, target := range []func() streamTarget{func() streamTarget { return ours }, func() streamTarget { return newTheirs(b) }} {
		t := target()
		b.Run(t.name+"/burst-100-readers-1-stalled", func(b *testing.B) { benchStalled(b, t, 100) })
	}
}

type streamTarget struct {
	name    string
	addr    string
	path    string
	publish func(b *testing.B, payload string) // one event whose data contains payload
}

func newOurs(b *testing.B) streamTarget {
	url, _ := pgtest.NewDatabase(b)
	d, err := db.New(db.Config{URL: url, Migrations: migrations.FS, MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() { cancel(); d.Close() })
	d.Start(ctx)
	pgtest.Eventually(b, 10*time.Second, "up", func() bool { return d.State().Status == dependency.Up })
	log := eventlog.New(d)
	job, err := jobs.NewService(d, log, jobs.Policy{}).Create(ctx, nil, jobs.NewJob{JobType: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	hub := events.NewHub()
	tailer := events.NewTailer(log, hub, events.TailerConfig{})
	log.OnCommit(func(int64) { tailer.Wake() }) // what the Relay does
	go tailer.Run(ctx)
	streams := sse.New(sse.Config{Heartbeat: time.Hour}, hub, log, dependency.Set{d.Tracker()})
	srv := httptest.NewServer(http.HandlerFunc(streams.ServeAll))
	b.Cleanup(func() { streams.Shutdown(); srv.Close() })
	return streamTarget{name: "ours", addr: srv.Listener.Addr().String(), path: "/", publish: func(b *testing.B, payload string) {
		err := d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return log.Append(tx, job.ID, "bench", json.RawMessage(`{"p":"`+payload+`"}`))
		})
		if err != nil {
			b.Fatal(err)
		}
	}}
}

func newTheirs(b *testing.B) streamTarget {
	s := r3.New() // defaults
	s.CreateStream("events")
	srv := httptest.NewServer(http.HandlerFunc(s.ServeHTTP))
	b.Cleanup(srv.Close)
	return streamTarget{name: "r3labs-defaults", addr: srv.Listener.Addr().String(), path: "/?stream=events",
		publish: func(b *testing.B, payload string) {
			s.Publish("events", &r3.Event{Data: []byte(`{"p":"` + payload + `"}`)})
		}}
}

// dialStream opens a raw stream connection and reads past the headers.
func dialStream(b *testing.B, t streamTarget) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", t.addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", t.path)
	return c, bufio.NewReaderSize(c, 64<<10)
}

func memory() (heapStack, rss uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return m.HeapInuse + m.StackInuse, rss
}

func benchIdleMemory(b *testing.B, t streamTarget, n int) {
	// What n bare client connections cost in this process, to subtract.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	h0, r0 := memory()
	var clients []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	time.Sleep(200 * time.Millisecond)
	h1, r1 := memory()
	for _, c := range clients {
		c.Close()
	}
	ln.Close()
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	baseHeap, baseRSS := float64(h1-h0), float64(int64(r1)-int64(r0))

	h0, r0 = memory()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, _ := dialStream(b, t)
		conns = append(conns, c)
	}
	time.Sleep(time.Second) // let every stream start
	h1, r1 = memory()
	for _, c := range conns {
		c.Close()
	}
	b.ReportMetric((float64(h1-h0)-baseHeap)/float64(n)/1024, "heap+stack-KB/sub")
	b.ReportMetric((float64(int64(r1)-int64(r0))-baseRSS)/float64(n)/1024, "RSS-KB/sub")
	time.Sleep(time.Second) // let the server notice the closes
}

// startReaders opens n streams with an HTTP client (which undoes the
// chunked transfer encoding) and reports each payload's arrival.
func startReaders(b *testing.B, t streamTarget, n int, arrived func(i int, payload string)) func() {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+t.addr+t.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if rest, ok := strings.CutPrefix(line, "data: "); ok {
					if _, p, ok := strings.Cut(rest, `"p":"`); ok {
						if p, _, ok := strings.Cut(p, `"`); ok {
							arrived(i, p)
						}
					}
				}
			}
		})
	}
	time.Sleep(time.Duration(n/500+1) * 500 * time.Millisecond) // let every stream start
	return func() {
		cancel()
		wg.Wait()
		client.CloseIdleConnections()
	}
}

func benchFanOut(b *testing.B, t streamTarget, n, rounds int) {
	var mu sync.Mutex
	var lat []time.Duration
	got := map[string]int{}
	stop := startReaders(b, t, n, func(_ int, p string) {
		at := time.Now()
		sent, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return
		}
		mu.Lock()
		lat = append(lat, at.Sub(time.Unix(0, sent)))
		got[p]++
		mu.Unlock()
	})
	defer stop()
	for range rounds {
		p := strconv.FormatInt(time.Now().UnixNano(), 10)
		t.publish(b, p)
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			done := got[p] >= n
			mu.Unlock()
			if done || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) < n*rounds {
		b.Logf("%s: only %d of %d deliveries", t.name, len(lat), n*rounds)
	}
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(float64(len(lat))/float64(n*rounds), "delivered-fraction")
}

func benchStalled(b *testing.B, t streamTarget, n int) {
	// 2,000 events of 8 KB: 16 MB for each reader, far more than a stalled
	// socket's buffers and r3labs' 64-event subscriber channel hold.
	const burst = 2000
	payload := strings.Repeat("x", 8<<10)
	var mu sync.Mutex
	count := make([]int, n)
	stop := startReaders(b, t, n, func(i int, p string) {
		if len(p) == len(payload) {
			mu.Lock()
			count[i]++
			mu.Unlock()
		}
	})
	defer stop()
	stalled, _ := dialStream(b, t) // never read
	defer stalled.Close()
	time.Sleep(500 * time.Millisecond)
	began := time.Now()
	published := make(chan struct{})
	go func() {
		for range burst {
			t.publish(b, payload)
		}
		close(published)
	}()
	deadline := time.Now().Add(60 * time.Second)
	var complete int
	for time.Now().Before(deadline) {
		mu.Lock()
		complete = 0
		for _, c := range count {
			if c >= burst {
				complete++
			}
		}
		mu.Unlock()
		if complete == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(began)
	select {
	case <-published:
	case <-time.After(time.Second):
		b.Logf("%s: the publisher was still blocked after the 60 s bound", t.name)
	}
	b.ReportMetric(float64(complete)/float64(n), "readers-complete-fraction")
	b.ReportMetric(ms(took), "burst-all-readers-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
