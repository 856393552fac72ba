package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Admit decides in memory, without waiting on Redis, while the budget is
// still shared across replicas: each process enforces the limit itself
// (the same GCRA as the fallback, so one replica never exceeds it), counts
// what it admitted, and every SyncInterval charges those counts to the
// shared budget in Redis (redis_rate's AllowAtMost) and learns what is left
// of it. A key whose shared budget is spent is refused here until it
// refills, whichever replica spent it.
//
// Tolerance: across N replicas a client can be admitted beyond the limit
// by what the other replicas admitted since their last report, at most
// N x (its rate x (SyncInterval + one Redis round trip)), plus at most
// Burst per replica before a key's first report; a replica that overspent
// pays it back by refusing sooner. With Redis down, disabled or failing,
// limits are per process, as AllowN's fallback.
//
// Admit is for the high-rate route classes. Limits that must be exact
// across replicas (sign-in attempts) use AllowN, which asks Redis.
//
// Until Run is started, Admit is AllowN: nothing would share the budget.
func (l *Limiter) Admit(ctx context.Context, key string, lim Limit) Result {
	if !l.syncing.Load() {
		return l.AllowN(ctx, key, lim, 1)
	}
	lim, ok := lim.normalize()
	if !ok {
		return Result{Allowed: true}
	}
	ei := interval(lim)
	now := l.mono()
	sh := l.shared
	sh.mu.Lock()
	st := sh.keys[key]
	if st != nil && st.known {
		// What Redis left, refilled since, less what this process has
		// admitted and not yet charged.
		est := min(float64(lim.Burst), st.remaining+float64(now-st.reportedAt)/ei) - float64(st.pending+st.inflight)
		if est < 1 {
			sh.mu.Unlock()
			wait := time.Duration((1 - est) * ei)
			return finish(lim, 1, false, 0, wait, time.Duration(float64(lim.Burst)*ei))
		}
	}
	res := l.local.allowN(key, lim, 1)
	if !res.Allowed {
		res.Local = (st != nil && st.failed) || l.mode.Load() == modeLocal
		sh.mu.Unlock()
		if res.Local {
			l.fallbacks.Add(1)
		}
		return res
	}
	if st == nil {
		if len(sh.keys) >= l.maxKeys {
			// A flood of distinct keys: this one is limited per process.
			sh.mu.Unlock()
			res.Local = true
			l.fallbacks.Add(1)
			return res
		}
		st = &sharedKey{lim: lim}
		sh.keys[key] = st
	}
	st.lim = lim
	if st.pending == 0 {
		sh.dirty = append(sh.dirty, key)
	}
	st.pending++
	if st.known {
		est := min(float64(lim.Burst), st.remaining+float64(now-st.reportedAt)/ei) - float64(st.pending+st.inflight)
		res.Remaining = min(res.Remaining, max(int(est), 0))
	}
	// Before a key's first report its admissions are charged later, not
	// decided without Redis; only a failed charge makes them per-process.
	res.Local = st.failed || l.mode.Load() == modeLocal
	sh.mu.Unlock()
	if res.Local {
		l.fallbacks.Add(1)
	}
	return res
}

// sharedKey is one key's view of the shared budget.
type sharedKey struct {
	lim Limit
	// pending were admitted and not yet charged; inflight are being
	// charged now.
	pending, inflight int
	// known: remaining (requests, negative when this process overspent)
	// was reported by Redis at reportedAt (ns on the limiter's clock).
	known      bool
	remaining  float64
	reportedAt int64
	// failed: the last charge could not reach Redis.
	failed bool
}

type sharedState struct {
	mu        sync.Mutex
	keys      map[string]*sharedKey
	dirty     []string
	nextSweep int64
}

// DefaultSyncInterval is how often Run charges admitted requests to Redis.
const DefaultSyncInterval = 50 * time.Millisecond

// Run shares Admit's decisions through Redis every interval (0:
// DefaultSyncInterval) until ctx ends. Admit decides per process until Run
// starts and asks Redis per request (AllowN) if it is never started.
func (l *Limiter) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSyncInterval
	}
	l.syncing.Store(true)
	defer l.syncing.Store(false)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.sync(ctx)
	}
}

// sync charges every key with admissions since the last sync, one Redis
// call per key however many requests it admitted.
func (l *Limiter) sync(ctx context.Context) {
	sh := l.shared
	sh.mu.Lock()
	dirty := sh.dirty
	sh.dirty = nil
	type charge struct {
		key string
		lim Limit
		n   int
	}
	charges := make([]charge, 0, len(dirty))
	for _, k := range dirty {
		st := sh.keys[k]
		if st == nil || st.pending == 0 {
			continue
		}
		st.inflight, st.pending = st.pending, 0
		charges = append(charges, charge{k, st.lim, st.inflight})
	}
	if now := l.mono(); now >= sh.nextSweep {
		l.sweepShared()
		sh.nextSweep = now + int64(sweepEvery)
	}
	sh.mu.Unlock()
	if len(charges) == 0 {
		return
	}
	client, err := l.client()
	for _, c := range charges {
		var r *redis_rate.Result
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, l.timeout)
			r, err = redis_rate.NewLimiter(client).AllowAtMost(cctx, l.prefix+c.key,
				redis_rate.Limit{Rate: c.lim.Rate, Burst: c.lim.Burst, Period: c.lim.Period}, c.n)
			cancel()
			if err != nil {
				l.failed(ctx, err)
			} else {
				l.setMode(modeRedis, nil)
			}
		}
		now := l.mono()
		sh.mu.Lock()
		if st := sh.keys[c.key]; st != nil {
			st.inflight = 0
			if err != nil {
				// Not charged: Redis is out of reach, and the process
				// limits alone apply until it answers again.
				st.known, st.failed = false, true
			} else {
				st.known, st.failed = true, false
				st.remaining = float64(r.Remaining - (c.n - r.Allowed))
				st.reportedAt = now
			}
		}
		sh.mu.Unlock()
	}
}

// sweepShared forgets keys with nothing pending whose budget has refilled;
// sh.mu is held.
func (l *Limiter) sweepShared() {
	now := l.mono()
	for k, st := range l.shared.keys {
		if st.pending == 0 && st.inflight == 0 && now-st.reportedAt > int64(st.lim.Period) {
			delete(l.shared.keys, k)
		}
	}
}

func (l *Limiter) mono() int64 { return int64(time.Since(l.start)) }
