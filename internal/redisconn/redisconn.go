// Package redisconn is the service's Redis client with the same lazy
// treatment as its PostgreSQL pool: it never blocks start-up, reconnects in
// the background, and refuses calls at once while Redis is down, so that
// whatever can do without Redis (nearly everything) carries on.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rca-engine/api/internal/dependency"
)

// Name is the dependency's name in health reports and X-Degraded.
const Name = "redis"

// Config says how to reach Redis. An empty URL disables Redis.
type Config struct {
	URL              string
	Timeout          time.Duration // dial, read, write and pool-wait bound; default 1s
	CheckInterval    time.Duration // default 5s
	ReconnectInitial time.Duration // default 250ms
	ReconnectMax     time.Duration // default 15s
	KickInterval     time.Duration // default 250ms
	Logger           *slog.Logger
}

// ErrUnavailable is returned by Client while Redis is down or disabled.
var ErrUnavailable = errors.New("redis is unavailable")

// Conn is a lazily connected Redis client.
type Conn struct {
	client  *redis.Client // nil when disabled
	tracker *dependency.Tracker
	sup     *dependency.Supervisor
	timeout time.Duration

	once sync.Once
}

// New validates cfg and builds the client without connecting.
func New(cfg Config) (*Conn, error) {
	if cfg.URL == "" {
		return &Conn{tracker: dependency.NewTracker(Name, dependency.Disabled)}, nil
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, errors.New("REDIS_URL is not a valid redis:// or rediss:// URL")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Timeout, time.Second)
	def(&cfg.CheckInterval, 5*time.Second)
	def(&cfg.ReconnectInitial, 250*time.Millisecond)
	def(&cfg.ReconnectMax, 15*time.Second)
	def(&cfg.KickInterval, 250*time.Millisecond)
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1
	// Same reasoning as for PostgreSQL: close idle sockets before a NAT
	// drops them silently, and find dead ones in seconds.
	opts.ConnMaxIdleTime = 50 * time.Second
	opts.Dialer = (&net.Dialer{
		Timeout:         cfg.Timeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3},
	}).DialContext
	c := &Conn{
		client:  redis.NewClient(opts),
		tracker: dependency.NewTracker(Name, dependency.Connecting),
		timeout: cfg.Timeout,
	}
	ping := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*cfg.Timeout)
		defer cancel()
		return c.client.Ping(ctx).Err()
	}
	c.sup = dependency.NewSupervisor(c.tracker, dependency.Probe{
		Connect:  func(ctx context.Context) (int64, error) { return 0, ping(ctx) },
		Check:    ping,
		Classify: classify,
	}, dependency.SupervisorConfig{
		CheckInterval:    cfg.CheckInterval,
		ReconnectInitial: cfg.ReconnectInitial,
		ReconnectMax:     cfg.ReconnectMax,
		KickInterval:     cfg.KickInterval,
		Logger:           cfg.Logger,
	})
	return c, nil
}

func classify(err error) dependency.Cause {
	if err == nil {
		return dependency.CauseNone
	}
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return dependency.CauseTimeout
	case containsAny(msg, "NOAUTH", "WRONGPASS", "invalid password", "invalid username-password"):
		return dependency.CauseAuthFailed
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return dependency.CauseTimeout
	}
	return dependency.CauseUnreachable
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Start launches the supervisor; it returns at once.
func (c *Conn) Start(ctx context.Context) {
	if c.client != nil {
		c.sup.Start(ctx)
	}
}

// Close stops the supervisor and closes the client.
func (c *Conn) Close() {
	c.once.Do(func() {
		if c.client != nil {
			c.sup.Stop()
			c.client.Close()
		}
	})
}

// Tracker exposes Redis's state.
func (c *Conn) Tracker() *dependency.Tracker { return c.tracker }

// Client returns the client while Redis is up, and ErrUnavailable at once
// otherwise (asking for an early reconnect). Callers must have a fallback.
func (c *Conn) Client() (*redis.Client, error) {
	st := c.tracker.Get()
	if st.Status != dependency.Up {
		if c.sup != nil {
			c.sup.Kick()
		}
		return nil, fmt.Errorf("%w (%s)", ErrUnavailable, st.Status)
	}
	return c.client, nil
}

// Failed reports that a call on the client failed, so that the supervisor
// checks Redis now rather than at its next tick.
func (c *Conn) Failed(err error) {
	if err != nil && c.sup != nil && !errors.Is(err, redis.Nil) {
		c.sup.Kick()
	}
}

// Logger carries go-redis's own log lines (a pool that could not close a
// connection, a command's argument it had to adjust, …) into the service's
// structured log, at warning level: go-redis gives them no level, and it
// writes one only when something did not go as asked. Install it with
// redis.SetLogger; see cmd/api for why that is done once, there.
type Logger struct{ log *slog.Logger }

// NewLogger returns a Logger writing to log.
func NewLogger(log *slog.Logger) *Logger { return &Logger{log: log} }

// Printf implements go-redis's logging interface.
func (l *Logger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	l.log.LogAttrs(ctx, slog.LevelWarn, "go-redis", slog.String("dependency", Name), slog.String("detail", msg))
}
