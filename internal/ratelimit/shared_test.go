package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

// running starts l's sharing loop for the test.
func running(t *testing.T, l *Limiter) *Limiter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx, DefaultSyncInterval) }()
	t.Cleanup(func() { cancel(); <-done })
	pgtest.Eventually(t, time.Second, "sync loop started", func() bool { return l.syncing.Load() })
	return l
}

// TestAdmitSharesTheBudgetAcrossReplicas: one client alternating between
// two replicas gets the limit once, within the stated tolerance, not once
// per replica.
func TestAdmitSharesTheBudgetAcrossReplicas(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	prefix := testPrefix(t, addr)
	rdbA, rdbB := startConn(t, addr), startConn(t, addr)
	waitUp(t, rdbA)
	waitUp(t, rdbB)
	a := running(t, New(rdbA, Config{Prefix: prefix}))
	b := running(t, New(rdbB, Config{Prefix: prefix}))
	ctx := context.Background()
	lim := Limit{Rate: 100, Period: time.Minute}
	const key = "read:user:1"

	// 400 requests, one every 5ms alternating: 100 per second per
	// replica, each replica learning of the other's every 50ms.
	admitted := 0
	start := time.Now()
	for i := range 400 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if l.Admit(ctx, key, lim).Allowed {
			admitted++
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// Tolerance: per replica its rate x (sync interval + a round trip),
	// here about 100/s x 60ms = 6, and what refilled meanwhile.
	refill := int(elapsed.Seconds() * 100 / 60)
	limit := lim.Rate + refill
	t.Logf("admitted %d of 400 in %v (limit %d with refill, tolerance +%d)", admitted, elapsed.Round(time.Millisecond), limit, 2*6+2)
	if admitted < lim.Rate || admitted > limit+2*6+2 {
		t.Fatalf("admitted %d, want %d..%d: the budget is not shared", admitted, lim.Rate, limit+14)
	}
	if a.Fallbacks()+b.Fallbacks() != 0 {
		t.Errorf("fallbacks = %d + %d, want none while Redis is up", a.Fallbacks(), b.Fallbacks())
	}
}

// TestAdmitWithRedisDownIsPerProcessAndNeverWaits: with Redis blackholed,
// each replica still enforces the limit itself (at worst N times the limit
// across N replicas, as AllowN's fallback), and no decision waits for
// Redis.
func TestAdmitWithRedisDownIsPerProcessAndNeverWaits(t *testing.T) {
	t.Parallel()
	addr := pgtest.RequireRedis(t)
	prefix := testPrefix(t, addr)
	proxy := faults.NewT(t, addr)
	rdbA, rdbB := startConn(t, proxy.Addr()), startConn(t, proxy.Addr())
	waitUp(t, rdbA)
	waitUp(t, rdbB)
	const timeout = 500 * time.Millisecond
	a := running(t, New(rdbA, Config{Prefix: prefix, RedisTimeout: timeout}))
	b := running(t, New(rdbB, Config{Prefix: prefix, RedisTimeout: timeout}))
	restore, err := proxy.Blackhole()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	ctx := context.Background()
	lim := Limit{Rate: 20, Period: time.Hour}
	var slowest time.Duration
	for name, l := range map[string]*Limiter{"A": a, "B": b} {
		admitted := 0
		for range 60 {
			start := time.Now()
			if l.Admit(ctx, "read:ip:198.51.100.7", lim).Allowed {
				admitted++
			}
			slowest = max(slowest, time.Since(start))
			time.Sleep(10 * time.Millisecond) // let syncs run into the blackhole
		}
		if admitted != lim.Rate {
			t.Errorf("replica %s admitted %d with Redis down, want its own limit of %d", name, admitted, lim.Rate)
		}
		if l.Fallbacks() == 0 {
			t.Errorf("replica %s counted no per-process decisions with Redis down", name)
		}
	}
	t.Logf("slowest decision with Redis blackholed: %v", slowest)
	if slowest >= timeout/2 {
		t.Errorf("a decision took %v: the request path waited on Redis (timeout %v)", slowest, timeout)
	}
}

// BenchmarkAdmit is one decision of Admit with Redis up and the sharing
// loop running: in memory, beside BenchmarkAllow's Redis round trip.
func BenchmarkAdmit(b *testing.B) {
	addr := pgtest.RequireRedis(b)
	rdb := startConn(b, addr)
	waitUp(b, rdb)
	l := New(rdb, Config{Prefix: testPrefix(b, addr)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx, DefaultSyncInterval)
	for !l.syncing.Load() {
		time.Sleep(time.Millisecond)
	}
	lim := Limit{Rate: 1_000_000_000, Period: time.Hour}
	for b.Loop() {
		if !l.Admit(ctx, "bench", lim).Allowed {
			b.Fatal("refused")
		}
	}
}
