package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/redisconn"
)

// clock is a manual clock for the fallback.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newLocalLimiter returns a Limiter on a disabled Redis, so that every
// decision is the fallback's, with a manual clock.
func newLocalLimiter(t testing.TB, cfg Config) (*Limiter, *clock) {
	t.Helper()
	rdb, err := redisconn.New(redisconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	return New(rdb, cfg), c
}

func TestLocalSemantics(t *testing.T) {
	t.Parallel()
	const s = time.Second
	five := Limit{Rate: 5, Period: 10 * s} // one request every 2s, burst 5
	type step struct {
		advance time.Duration
		n       int  // requests to consume
		reset   bool // call Reset instead
		allowed bool
		remain  int
		retry   time.Duration
		resetIn time.Duration
	}
	tests := []struct {
		name  string
		lim   Limit
		steps []step
	}{
		{"burst, then deny, then refill", five, []step{
			{n: 1, allowed: true, remain: 4, resetIn: 2 * s},
			{n: 1, allowed: true, remain: 3, resetIn: 4 * s},
			{n: 1, allowed: true, remain: 2, resetIn: 6 * s},
			{n: 1, allowed: true, remain: 1, resetIn: 8 * s},
			{n: 1, allowed: true, remain: 0, resetIn: 10 * s},
			{n: 1, allowed: false, retry: 2 * s, resetIn: 10 * s},
			{advance: s, n: 1, allowed: false, retry: s, resetIn: 9 * s},
			{advance: s, n: 1, allowed: true, remain: 0, resetIn: 10 * s},
			{advance: 4 * s, n: 1, allowed: true, remain: 1, resetIn: 8 * s},
			{advance: time.Hour, n: 0, allowed: true, remain: 5},
		}},
		{"n=0 peeks without consuming", five, []step{
			{n: 0, allowed: true, remain: 5},
			{n: 0, allowed: true, remain: 5},
			{n: 4, allowed: true, remain: 1, resetIn: 8 * s},
			{n: 0, allowed: true, remain: 1, resetIn: 8 * s},
			{n: 1, allowed: true, remain: 0, resetIn: 10 * s},
			{n: 0, allowed: false, retry: 2 * s, resetIn: 10 * s},
			{advance: 1500 * time.Millisecond, n: 0, allowed: false, retry: 500 * time.Millisecond, resetIn: 8500 * time.Millisecond},
			{advance: 500 * time.Millisecond, n: 0, allowed: true, remain: 1, resetIn: 8 * s},
		}},
		{"n is all or nothing; more than the burst never fits", five, []step{
			{n: 3, allowed: true, remain: 2, resetIn: 6 * s},
			{n: 3, allowed: false, retry: 2 * s, resetIn: 6 * s},
			{n: 2, allowed: true, remain: 0, resetIn: 10 * s},
			{advance: time.Hour, n: 6, allowed: false, retry: 2 * s},
			{n: 5, allowed: true, remain: 0, resetIn: 10 * s},
		}},
		{"negative n counts as 0", five, []step{
			{n: -3, allowed: true, remain: 5},
		}},
		{"reset forgets the key", five, []step{
			{n: 5, allowed: true, remain: 0, resetIn: 10 * s},
			{n: 1, allowed: false, retry: 2 * s, resetIn: 10 * s},
			{reset: true},
			{n: 1, allowed: true, remain: 4, resetIn: 2 * s},
		}},
		{"burst other than rate", Limit{Rate: 1, Period: s, Burst: 3}, []step{
			{n: 1, allowed: true, remain: 2, resetIn: s},
			{n: 1, allowed: true, remain: 1, resetIn: 2 * s},
			{n: 1, allowed: true, remain: 0, resetIn: 3 * s},
			{n: 1, allowed: false, retry: s, resetIn: 3 * s},
			{advance: 2500 * time.Millisecond, n: 1, allowed: true, remain: 1, resetIn: 1500 * time.Millisecond},
		}},
		{"zero limit always allows", Limit{}, []step{
			{n: 1, allowed: true}, {n: 1_000_000, allowed: true}, {n: 0, allowed: true},
		}},
		{"an invalid limit allows rather than take the service down", Limit{Rate: -1, Period: s}, []step{
			{n: 1, allowed: true}, {n: 1, allowed: true},
		}},
		{"a rate without a period allows", Limit{Rate: 5}, []step{
			{n: 1, allowed: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, c := newLocalLimiter(t, Config{})
			ctx := context.Background()
			for i, st := range tt.steps {
				c.Advance(st.advance)
				if st.reset {
					l.Reset(ctx, "k")
					continue
				}
				got := l.AllowN(ctx, "k", tt.lim, st.n)
				want := Result{Allowed: st.allowed, Remaining: st.remain, RetryAfter: st.retry, ResetAfter: st.resetIn}
				if lim, ok := tt.lim.normalize(); ok {
					want.Limit = lim
					want.Local = true
				}
				if got != want {
					t.Errorf("step %d (AllowN %d after %s):\n got %+v\nwant %+v", i, st.n, st.advance, got, want)
				}
			}
		})
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	t.Parallel()
	l, _ := newLocalLimiter(t, Config{})
	ctx := context.Background()
	lim := Limit{Rate: 1, Period: time.Hour}
	if !l.Allow(ctx, "login:acct:alice", lim).Allowed || l.Allow(ctx, "login:acct:alice", lim).Allowed {
		t.Fatal("alice: want one allowed, then denied")
	}
	if !l.Allow(ctx, "login:acct:bob", lim).Allowed {
		t.Error("bob is limited by alice's budget")
	}
	if got := l.Fallbacks(); got != 3 {
		t.Errorf("Fallbacks() = %d, want 3", got)
	}
}

func TestLocalKeysAreBounded(t *testing.T) {
	t.Parallel()
	tests := []struct{ max, keys int }{{1, 10}, {10, 1000}, {100, 5000}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			t.Parallel()
			l, c := newLocalLimiter(t, Config{MaxLocalKeys: tt.max})
			ctx := context.Background()
			lim := Limit{Rate: 5, Period: time.Hour}
			for i := range tt.keys {
				if !l.Allow(ctx, fmt.Sprintf("read:ip:%d", i), lim).Allowed {
					t.Fatalf("key %d: a new key must have its full budget", i)
				}
				if n := l.local.size(); n > tt.max {
					t.Fatalf("after %d keys the fallback tracks %d, above MaxLocalKeys %d", i+1, n, tt.max)
				}
			}
			// A key whose bucket is full again is dropped by the next sweep.
			c.Advance(time.Hour + sweepEvery)
			l.Allow(ctx, "read:ip:last", lim)
			if n := l.local.size(); n != 1 {
				t.Errorf("after every bucket refilled the fallback tracks %d keys, want 1", n)
			}
		})
	}
}

// TestLocalDropsFullBuckets: a request that leaves the bucket full (n=0 on
// an unknown key) stores nothing, so peeks cannot fill memory.
func TestLocalDropsFullBuckets(t *testing.T) {
	t.Parallel()
	l, _ := newLocalLimiter(t, Config{})
	for i := range 1000 {
		l.AllowN(context.Background(), fmt.Sprint(i), Limit{Rate: 5, Period: time.Hour}, 0)
	}
	if n := l.local.size(); n != 0 {
		t.Errorf("peeks left %d entries, want 0", n)
	}
}
