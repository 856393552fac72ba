package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/redisconn"
)

// startConn returns a started redisconn.Conn to addr ("" for disabled),
// closed when t ends. Short timeouts make outages show within a second.
func startConn(t testing.TB, addr string) *redisconn.Conn {
	t.Helper()
	cfg := redisconn.Config{
		Timeout:          300 * time.Millisecond,
		CheckInterval:    time.Second,
		ReconnectInitial: 50 * time.Millisecond,
		ReconnectMax:     200 * time.Millisecond,
		KickInterval:     50 * time.Millisecond,
	}
	if addr != "" {
		cfg.URL = "redis://" + addr + "/0"
	}
	rdb, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rdb.Start(ctx)
	t.Cleanup(func() {
		cancel()
		rdb.Close()
	})
	return rdb
}

func waitUp(t testing.TB, rdb *redisconn.Conn) {
	t.Helper()
	pgtest.Eventually(t, 10*time.Second, "redis up", func() bool {
		return rdb.Tracker().Get().Status == dependency.Up
	})
}

// testPrefix returns a prefix of its own for t, and deletes every key under
// it when t ends, so that parallel tests and reruns never share a budget.
func testPrefix(t testing.TB, addr string) string {
	t.Helper()
	prefix := "rca:rltest:" + rand.Text()[:12] + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, "rate:"+prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("clean up %s*: %v", prefix, err)
		}
	})
	return prefix
}

// syncBuffer is a log destination the limiter and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func TestReplicasShareOneBudget(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	prefix := testPrefix(t, addr)
	rdbA, rdbB := startConn(t, addr), startConn(t, addr)
	waitUp(t, rdbA)
	waitUp(t, rdbB)
	a, b := New(rdbA, Config{Prefix: prefix}), New(rdbB, Config{Prefix: prefix})
	ctx := context.Background()
	lim := Limit{Rate: 5, Period: time.Minute}
	const key = "read:ip:203.0.113.9"

	for i, step := range []struct {
		l      *Limiter
		remain int
	}{{a, 4}, {a, 3}, {a, 2}, {b, 1}, {b, 0}} {
		r := step.l.Allow(ctx, key, lim)
		if !r.Allowed || r.Local || r.Remaining != step.remain || r.RetryAfter != 0 {
			t.Fatalf("request %d = %+v, want allowed by Redis with %d remaining", i+1, r, step.remain)
		}
	}
	for name, l := range map[string]*Limiter{"A": a, "B": b} {
		r := l.Allow(ctx, key, lim)
		if r.Allowed || r.Local || r.Remaining != 0 {
			t.Errorf("6th request on %s = %+v, want denied by Redis", name, r)
		}
		// One request every 12s: the next fits in (0, 12s].
		if r.RetryAfter <= 0 || r.RetryAfter > 12*time.Second {
			t.Errorf("6th request on %s: RetryAfter = %s, want in (0, 12s]", name, r.RetryAfter)
		}
		if r.ResetAfter <= 55*time.Second || r.ResetAfter > time.Minute {
			t.Errorf("6th request on %s: ResetAfter = %s, want about 1m", name, r.ResetAfter)
		}
	}
	if r := a.AllowN(ctx, key, lim, 0); r.Allowed || r.RetryAfter <= 0 {
		t.Errorf("peek on an empty budget = %+v, want denied with RetryAfter", r)
	}
	if a.Fallbacks()+b.Fallbacks() != 0 {
		t.Errorf("fallbacks = %d + %d, want none while Redis is up", a.Fallbacks(), b.Fallbacks())
	}

	// The key is where the documentation says, and Reset clears it for
	// both replicas.
	direct := redis.NewClient(&redis.Options{Addr: addr})
	defer direct.Close()
	if n, err := direct.Exists(ctx, "rate:"+prefix+key).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS rate:%s%s = %d, %v; want 1", prefix, key, n, err)
	}
	a.Reset(ctx, key)
	if r := b.Allow(ctx, key, lim); !r.Allowed || r.Remaining != 4 {
		t.Errorf("after Reset on A, B = %+v, want allowed with 4 remaining", r)
	}
}

// TestRedisAndLocalAgree runs the same requests through Redis and through
// the fallback: a limit must mean the same whoever decides.
func TestRedisAndLocalAgree(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	rdb := startConn(t, addr)
	waitUp(t, rdb)
	shared := New(rdb, Config{Prefix: testPrefix(t, addr)})
	local, _ := newLocalLimiter(t, Config{})
	ctx := context.Background()
	// Long intervals, so the milliseconds Redis's clock moves between
	// calls do not change a count.
	for _, lim := range []Limit{{Rate: 5, Period: time.Hour}, {Rate: 2, Period: time.Hour, Burst: 4}} {
		key := "agree:" + lim.String()
		for i, n := range []int{1, 0, 2, 3, 1, 0, 1, 1, 5, 0} {
			r, l := shared.AllowN(ctx, key, lim, n), local.AllowN(ctx, key, lim, n)
			if r.Local || !l.Local {
				t.Fatalf("Local flags: redis %v, local %v", r.Local, l.Local)
			}
			near := func(x, y time.Duration) bool { return (x - y).Abs() < time.Second }
			if r.Allowed != l.Allowed || r.Remaining != l.Remaining || r.Limit != l.Limit ||
				!near(r.RetryAfter, l.RetryAfter) || !near(r.ResetAfter, l.ResetAfter) {
				t.Errorf("%s step %d (n=%d):\nredis %+v\nlocal %+v", lim, i, n, r, l)
			}
		}
	}
}

func TestFallbackEnforcesLimitsPerProcess(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name string
		addr string
	}{
		{"unreachable", closed},
		{"disabled", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &syncBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, nil))
			a := New(startConn(t, tt.addr), Config{Logger: logger})
			b := New(startConn(t, tt.addr), Config{Logger: logger})
			ctx := context.Background()
			lim := Limit{Rate: 2, Period: time.Hour}
			start := time.Now()
			for i, want := range []bool{true, true, false, false} {
				r := a.Allow(ctx, "login:acct:alice", lim)
				if r.Allowed != want || !r.Local {
					t.Errorf("request %d = %+v, want Allowed %v and Local", i+1, r, want)
				}
				if !r.Allowed && r.RetryAfter <= 0 {
					t.Errorf("request %d denied without RetryAfter: %+v", i+1, r)
				}
			}
			if r := b.Allow(ctx, "login:acct:alice", lim); !r.Allowed || !r.Local {
				t.Errorf("another process = %+v, want allowed: without Redis budgets are per process", r)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("5 local decisions took %s; without Redis they must not wait", d)
			}
			if a.Fallbacks() != 4 || b.Fallbacks() != 1 {
				t.Errorf("Fallbacks = %d, %d; want 4, 1", a.Fallbacks(), b.Fallbacks())
			}
			if n := logs.count("per-process"); n != 2 {
				t.Errorf("logged the fallback %d times for 2 limiters, want once each:\n%s", n, logs.b.String())
			}
		})
	}
}

func TestSilentRedisDoesNotHoldRequests(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	proxy := faults.NewT(t, addr)
	rdb := startConn(t, proxy.Addr())
	waitUp(t, rdb)
	logs := &syncBuffer{}
	l := New(rdb, Config{Prefix: testPrefix(t, addr), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	lim := Limit{Rate: 100, Period: time.Minute}
	if r := l.Allow(ctx, "k", lim); !r.Allowed || r.Local {
		t.Fatalf("before the fault: %+v, want allowed by Redis", r)
	}

	restore, err := proxy.Blackhole()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		start := time.Now()
		r := l.Allow(ctx, "k", lim)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("request %d took %s with Redis silent", i, d)
		}
		if !r.Allowed || !r.Local {
			t.Fatalf("request %d with Redis silent = %+v, want allowed locally", i, r)
		}
	}
	if n := logs.count("per-process"); n != 1 {
		t.Errorf("logged the fallback %d times, want once", n)
	}

	restore()
	pgtest.Eventually(t, 15*time.Second, "Redis decides again", func() bool {
		return !l.Allow(ctx, "k", lim).Local
	})
	if n := logs.count("shared through Redis again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, logs.b.String())
	}
}

// TestCanceledCallerDoesNotBlameRedis: a request whose client went away
// ends its context; that is no reason to go per-process.
func TestCanceledCallerDoesNotBlameRedis(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	rdb := startConn(t, addr)
	waitUp(t, rdb)
	logs := &syncBuffer{}
	l := New(rdb, Config{Prefix: testPrefix(t, addr), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := l.Allow(ctx, "k", Limit{Rate: 5, Period: time.Minute}); !r.Allowed {
		t.Errorf("canceled caller = %+v, want a decision all the same", r)
	}
	if r := l.Allow(context.Background(), "k", Limit{Rate: 5, Period: time.Minute}); r.Local {
		t.Errorf("after a canceled caller = %+v, want Redis to decide", r)
	}
	if n := logs.count("per-process"); n != 0 {
		t.Errorf("a canceled caller was logged as a Redis outage:\n%s", logs.b.String())
	}
}

func BenchmarkAllow(b *testing.B) {
	lim := Limit{Rate: 1_000_000_000, Period: time.Hour}
	b.Run("redis", func(b *testing.B) {
		addr := pgtest.RequireRedis(b)
		rdb := startConn(b, addr)
		waitUp(b, rdb)
		l := New(rdb, Config{Prefix: testPrefix(b, addr)})
		ctx := context.Background()
		for b.Loop() {
			if r := l.Allow(ctx, "bench", lim); r.Local {
				b.Fatal("Redis did not decide")
			}
		}
	})
	b.Run("local", func(b *testing.B) {
		rdb, err := redisconn.New(redisconn.Config{})
		if err != nil {
			b.Fatal(err)
		}
		l := New(rdb, Config{})
		ctx := context.Background()
		for b.Loop() {
			l.Allow(ctx, "bench", lim)
		}
	})
	b.Run("local-parallel", func(b *testing.B) {
		rdb, err := redisconn.New(redisconn.Config{})
		if err != nil {
			b.Fatal(err)
		}
		l := New(rdb, Config{})
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(ctx, "bench", lim)
			}
		})
	})
}
