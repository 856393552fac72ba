package ratelimit

import (
	"math"
	"sync"
	"time"
)

// sweepEvery is how often (on the limiter's clock) the fallback drops the
// entries whose bucket is full again, which is what keeps the map small in
// normal use; MaxLocalKeys is only the hard bound.
const sweepEvery = time.Minute

// local is the per-process fallback: the GCRA of redis_rate's Lua script,
// step for step, on a map of theoretical arrival times (TAT), so that a
// limit means the same whether Redis or the fallback decides it.
//
// One mutex guards the map: the critical section is a map access and a few
// float operations, far cheaper than the Redis round trip it replaces.
type local struct {
	now     func() time.Time
	base    time.Time // TATs are float nanoseconds since base: small, so exact enough
	maxKeys int

	mu        sync.Mutex
	tat       map[string]float64
	nextSweep float64
}

func newLocal(now func() time.Time, maxKeys int) *local {
	return &local{
		now:       now,
		base:      now(),
		maxKeys:   maxKeys,
		tat:       make(map[string]float64),
		nextSweep: float64(sweepEvery),
	}
}

// allowN is redis_rate's allowN script with the clock in nanoseconds.
func (s *local) allowN(key string, lim Limit, n int) Result {
	ei := interval(lim)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := float64(s.now().Sub(s.base))
	if now >= s.nextSweep {
		s.sweep(now)
	}
	tat, ok := s.tat[key]
	if !ok || tat < now {
		tat = now
	}
	newTAT := tat + ei*float64(n)
	diff := now - (newTAT - ei*float64(lim.Burst))
	remaining := snap(diff / ei)
	if remaining < 0 {
		return finish(lim, n, false, 0, time.Duration(-diff), time.Duration(tat-now))
	}
	reset := newTAT - now
	switch {
	case reset <= 0:
		delete(s.tat, key) // full again: nothing to remember
	case ok:
		s.tat[key] = newTAT
	default:
		if len(s.tat) >= s.maxKeys {
			s.evict(now)
		}
		s.tat[key] = newTAT
	}
	return finish(lim, n, true, int(remaining), 0, time.Duration(reset))
}

func (s *local) reset(key string) {
	s.mu.Lock()
	delete(s.tat, key)
	s.mu.Unlock()
}

func (s *local) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tat)
}

// sweep drops the entries whose bucket is full again: forgetting them
// changes no decision.
func (s *local) sweep(now float64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	s.nextSweep = now + float64(sweepEvery)
}

// evict makes room for a new key when the map holds maxKeys. It first
// sweeps; if every entry still carries usage (a flood of distinct client
// keys), it drops arbitrary entries, Go's map order being random, down to
// 90% of the bound. A dropped client gets a fresh budget: the fallback
// fails open for it rather than growing without bound or refusing everyone.
// Under a flood most dropped keys are the flood's own. Freeing 10% at once
// makes the O(n) scan rare (once per maxKeys/10 new keys at worst).
func (s *local) evict(now float64) {
	s.sweep(now)
	target := s.maxKeys - max(1, s.maxKeys/10)
	for k := range s.tat {
		if len(s.tat) <= target {
			break
		}
		delete(s.tat, k)
	}
}

// interval is the GCRA's emission interval: nanoseconds per request.
func interval(lim Limit) float64 { return float64(lim.Period) / float64(lim.Rate) }

// snap rounds x to the nearest integer when it is within float error of it,
// so that (now-TAT)/interval computed as 2.9999999999 counts as 3 requests.
func snap(x float64) float64 {
	if r := math.Round(x); math.Abs(x-r) < 1e-9 {
		return r
	}
	return x
}

// finish turns a GCRA outcome (as redis_rate reports it) into a Result:
// RetryAfter only on denial and always > 0 then, no negative durations, and
// the n=0 rule: a peek is denied when not one whole request is left, with
// RetryAfter the wait for one.
func finish(lim Limit, n int, allowed bool, remaining int, retry, reset time.Duration) Result {
	reset = max(reset, 0)
	if n == 0 {
		allowed = allowed && remaining > 0
		if !allowed {
			// The bucket is full again after reset; one request fits
			// (Burst-1) intervals before that.
			retry = reset - time.Duration(interval(lim)*float64(lim.Burst-1))
		}
	}
	if allowed {
		retry = 0
	} else {
		retry = max(retry, time.Nanosecond)
		remaining = 0
	}
	return Result{
		Allowed:    allowed,
		Limit:      lim,
		Remaining:  max(remaining, 0),
		RetryAfter: retry,
		ResetAfter: reset,
	}
}
