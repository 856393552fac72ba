// Package ratelimit enforces request budgets per client and route class.
// The budgets live in Redis (GCRA through github.com/go-redis/redis_rate), so
// that every replica draws on the same budget: N replicas must not mean N
// times the limit.
//
// A rate limiter must never be the reason a request fails or waits: while
// Redis is down, disabled, slow or silent, each replica decides on its own
// with the same algorithm in memory. Limits then hold per process (at worst
// N times the limit across N replicas) instead of not at all, and no call
// waits on Redis longer than Config.RedisTimeout.
package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/redisconn"
)

// redisCooloff is how long the limiter decides locally, without asking
// Redis, after a Redis call failed. The supervisor confirms an outage only
// after its own check times out, and until then every request would pay
// the full RedisTimeout: a second of local decisions instead costs nothing.
const redisCooloff = time.Second

// errDisabled: there is no Redis to ask, by configuration.
var errDisabled = errors.New("redis is disabled")

// errCoolingOff: a Redis call failed less than redisCooloff ago.
var errCoolingOff = errors.New("redis failed a moment ago")

// Result is the outcome of one decision, with what the RateLimit and
// Retry-After headers need.
type Result struct {
	Allowed bool
	// Limit is the limit applied, with Burst filled in.
	Limit Limit
	// Remaining is how many requests would be allowed right now (>= 0);
	// 0 on denial.
	Remaining int
	// RetryAfter is, on denial only, how long until the request would be
	// allowed; it is 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the budget is full again.
	ResetAfter time.Duration
	// Local is true when the per-process fallback decided, not Redis.
	Local bool
}

// Config tunes a Limiter; the zero Config is usable.
type Config struct {
	// Prefix is put before every key in Redis; default "rca:rl:". The
	// redis_rate library adds its own "rate:" in front of it, so a key
	// "read:ip:203.0.113.9" is stored as "rate:rca:rl:read:ip:203.0.113.9".
	Prefix string
	// RedisTimeout bounds one Redis call; default 100ms. A slow or
	// blackholed Redis must not hold a request longer than this.
	RedisTimeout time.Duration
	// MaxLocalKeys bounds the keys the fallback tracks; default 100_000.
	// It bounds memory under a flood of distinct client keys.
	MaxLocalKeys int
	// Logger gets the (rare) changes between shared and per-process
	// limits; nil discards.
	Logger *slog.Logger
	// Now is the fallback's clock, for tests; nil means time.Now.
	Now func() time.Time
}

// mode says who decided last, so that switching is logged once, not per
// request.
const (
	modeUnknown int32 = iota
	modeRedis
	modeLocal
)

// Limiter decides whether a request fits in its key's budget. It is safe
// for concurrent use.
type Limiter struct {
	rdb     *redisconn.Conn // nil: no Redis
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	local   *local

	start     time.Time    // for the cool-off clock (monotonic, real time)
	skipUntil atomic.Int64 // ns since start before which Redis is not asked
	mode      atomic.Int32
	fallbacks atomic.Uint64

	// Admit's shared budgets (shared.go).
	shared  *sharedState
	syncing atomic.Bool
	maxKeys int
}

// New returns a Limiter on rdb, which may have Redis disabled (or be nil):
// the Limiter then always decides locally. rdb must be started by its
// owner; the Limiter does not start or close it.
func New(rdb *redisconn.Conn, cfg Config) *Limiter {
	if cfg.Prefix == "" {
		cfg.Prefix = "rca:rl:"
	}
	if cfg.RedisTimeout <= 0 {
		cfg.RedisTimeout = 100 * time.Millisecond
	}
	if cfg.MaxLocalKeys <= 0 {
		cfg.MaxLocalKeys = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{
		rdb:     rdb,
		prefix:  cfg.Prefix,
		timeout: cfg.RedisTimeout,
		log:     cfg.Logger,
		local:   newLocal(cfg.Now, cfg.MaxLocalKeys),
		start:   time.Now(),
		shared:  &sharedState{keys: map[string]*sharedKey{}},
		maxKeys: cfg.MaxLocalKeys,
	}
}

// Allow consumes one request from key's budget under lim.
func (l *Limiter) Allow(ctx context.Context, key string, lim Limit) Result {
	return l.AllowN(ctx, key, lim, 1)
}

// AllowN consumes n requests from key's budget under lim, all or nothing.
// A zero (or invalid) lim always allows, with a zero Result.Limit so that
// callers send no rate-limit headers. n larger than the burst is never
// allowed; a negative n counts as 0.
//
// n = 0 consumes nothing and reports the state: it is allowed while at
// least one whole request is left, and otherwise denied with RetryAfter the
// wait for one. That lets a caller check a budget (say, failed logins)
// before doing work it charges only on failure.
//
// AllowN returns no error: if Redis cannot decide, this process does.
func (l *Limiter) AllowN(ctx context.Context, key string, lim Limit, n int) Result {
	n = max(n, 0)
	lim, ok := lim.normalize()
	if !ok {
		return Result{Allowed: true}
	}
	if res, err := l.redisAllowN(ctx, key, lim, n); err == nil {
		return res
	}
	l.fallbacks.Add(1)
	res := l.local.allowN(key, lim, n)
	res.Local = true
	return res
}

// redisAllowN asks Redis, and says why not when it cannot.
func (l *Limiter) redisAllowN(ctx context.Context, key string, lim Limit, n int) (Result, error) {
	client, err := l.client()
	if err != nil {
		return Result{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	rl := redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period}
	r, err := redis_rate.NewLimiter(client).AllowN(cctx, l.prefix+key, rl, n)
	if err != nil {
		l.failed(ctx, err)
		return Result{}, err
	}
	l.setMode(modeRedis, nil)
	// The script answers RetryAfter exactly -1 when it allowed (its Allowed
	// is the cost, 0 for n = 0 either way); a denial's wait is positive,
	// though it may round to 0ns.
	return finish(lim, n, r.RetryAfter == -1, r.Remaining, r.RetryAfter, r.ResetAfter), nil
}

// client returns the Redis client, or an error at once while Redis is down,
// disabled or cooling off after a failure.
func (l *Limiter) client() (*redis.Client, error) {
	if l.rdb == nil || l.rdb.Tracker().Get().Status == dependency.Disabled {
		l.setMode(modeLocal, errDisabled)
		return nil, errDisabled
	}
	if int64(time.Since(l.start)) < l.skipUntil.Load() {
		return nil, errCoolingOff
	}
	c, err := l.rdb.Client()
	if err != nil {
		l.setMode(modeLocal, err)
		return nil, err
	}
	return c, nil
}

// failed records a failed Redis call, unless it failed because the caller
// gave up (its context ended): that says nothing about Redis.
func (l *Limiter) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.rdb.Failed(err)
	l.skipUntil.Store(int64(time.Since(l.start) + redisCooloff))
	l.setMode(modeLocal, err)
}

// setMode logs a change between shared and per-process decisions. The load
// first keeps the common case (no change) a read, not a contended write.
func (l *Limiter) setMode(m int32, err error) {
	old := l.mode.Load()
	if old == m || !l.mode.CompareAndSwap(old, m) {
		return
	}
	switch {
	case errors.Is(err, errDisabled):
		l.log.Info("Redis is disabled: rate limits are per-process")
	case m == modeLocal:
		l.log.Warn("rate limits are per-process until Redis answers again", "error", err)
	case old == modeLocal:
		l.log.Info("rate limits are shared through Redis again")
	}
}

// Reset forgets key's usage in both stores, best effort: after a successful
// login, say, to clear the account's failure count. A Redis failure is
// reported to the connection's supervisor and otherwise ignored; the entry
// expires by itself.
func (l *Limiter) Reset(ctx context.Context, key string) {
	l.local.reset(key)
	l.shared.mu.Lock()
	delete(l.shared.keys, key)
	l.shared.mu.Unlock()
	client, err := l.client()
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := redis_rate.NewLimiter(client).Reset(cctx, l.prefix+key); err != nil {
		l.failed(ctx, err)
		l.log.Debug("rate limit reset failed", "key", key, "error", err)
	}
}

// Fallbacks returns how many decisions this process took without Redis,
// for a Prometheus CounterFunc.
func (l *Limiter) Fallbacks() uint64 { return l.fallbacks.Load() }
