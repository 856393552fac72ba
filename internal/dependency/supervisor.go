package dependency

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Probe is what a Supervisor needs to know about one dependency.
type Probe struct {
	// Connect (re)establishes the dependency: for PostgreSQL a ping and the
	// migrations. It returns a version to report (0 if none).
	Connect func(ctx context.Context) (version int64, err error)
	// Check tells whether a dependency that is up still answers.
	Check func(ctx context.Context) error
	// Classify names the cause of a failure.
	Classify func(error) Cause
	// MinWait, if set, returns a floor for the wait after a failure with the
	// given cause; a non-zero floor also ignores early-retry requests, for
	// failures that retrying sooner cannot fix (a broken migration).
	MinWait func(Cause) time.Duration
	// Lost is called when an up dependency stops answering, before the
	// state turns down (to drop pooled connections, say).
	Lost func()
}

// SupervisorConfig tunes the reconnect loop.
type SupervisorConfig struct {
	CheckInterval    time.Duration // between checks while up
	ReconnectInitial time.Duration // first backoff interval
	ReconnectMax     time.Duration // backoff cap
	KickInterval     time.Duration // least time between early attempts
	Logger           *slog.Logger
}

// Supervisor owns a dependency's state: it connects in the background with
// exponential backoff and jitter (never giving up), watches the dependency
// while it is up, and logs each change of state once.
type Supervisor struct {
	t     *Tracker
	probe Probe
	cfg   SupervisorConfig
	log   *slog.Logger
	kick  chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewSupervisor returns a supervisor for the dependency tracked by t.
func NewSupervisor(t *Tracker, p Probe, cfg SupervisorConfig) *Supervisor {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{t: t, probe: p, cfg: cfg, log: log.With("dependency", t.Name()), kick: make(chan struct{}, 1)}
}

// Kick asks for an attempt (while down) or a check (while up) soon. It never
// blocks, and attempts are at least KickInterval apart however often it is
// called, so a burst of requests during an outage costs one attempt.
func (s *Supervisor) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start runs the supervisor in the background until ctx ends or Stop is
// called. It returns at once; a second call does nothing.
func (s *Supervisor) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.Run(ctx)
	}()
}

// Stop ends a started supervisor and waits for it to return.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return
	}
	s.cancel()
	<-s.done
}

// Run connects, watches and reconnects until ctx ends.
func (s *Supervisor) Run(ctx context.Context) {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     s.cfg.ReconnectInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         s.cfg.ReconnectMax,
		MaxElapsedTime:      0, // never give up
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	for {
		s.t.Touch(func(st *State) { st.TotalAttempts++ })
		start := time.Now()
		version, err := s.probe.Connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			b.Reset()
			s.markUp(version, time.Since(start))
			err = s.watch(ctx)
			if ctx.Err() != nil {
				return
			}
			if s.probe.Lost != nil {
				s.probe.Lost()
			}
		}
		cause := s.probe.Classify(err)
		wait := b.NextBackOff()
		var floor time.Duration
		if s.probe.MinWait != nil {
			floor = s.probe.MinWait(cause)
		}
		wait = max(wait, floor)
		s.markDown(cause, err, wait)
		s.waitRetry(ctx, wait, floor == 0)
		if ctx.Err() != nil {
			return
		}
	}
}

// watch checks every CheckInterval, or sooner when kicked, and returns the
// first failure.
func (s *Supervisor) watch(ctx context.Context) error {
	var lastKicked time.Time
	due := time.Now().Add(s.cfg.CheckInterval)
	t := time.NewTimer(s.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.kick:
			// A failed call is the best evidence there is: check at once,
			// unless a kicked check just ran, in which case bring the next
			// check forward rather than drop the request.
			if early := lastKicked.Add(s.cfg.KickInterval); time.Now().Before(early) {
				if early.Before(due) {
					due = early
					t.Reset(time.Until(early))
				}
				continue
			}
			lastKicked = time.Now()
		}
		last := time.Now()
		due = last.Add(s.cfg.CheckInterval)
		t.Reset(s.cfg.CheckInterval)
		if err := s.probe.Check(ctx); err != nil {
			return err
		}
		latency := time.Since(last)
		s.t.Touch(func(st *State) {
			st.LastCheck = time.Now()
			st.Latency = latency
		})
	}
}

// waitRetry sleeps until the next attempt. A kick brings it forward to
// KickInterval after this wait began, if early attempts are allowed.
func (s *Supervisor) waitRetry(ctx context.Context, wait time.Duration, allowKick bool) {
	began := time.Now()
	due := began.Add(wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-s.kick:
			early := began.Add(s.cfg.KickInterval)
			if !allowKick || !early.Before(due) {
				continue
			}
			due = early
			t.Reset(time.Until(early))
			s.t.Touch(func(st *State) { st.NextRetry = early })
		}
	}
}

func (s *Supervisor) markUp(version int64, latency time.Duration) {
	now := time.Now()
	changed := s.t.Update(func(st *State) {
		st.Status = Up
		st.Cause = CauseNone
		st.LastError = ""
		st.Attempts = 0
		st.NextRetry = time.Time{}
		st.LastCheck = now
		st.Latency = latency
		st.Version = version
	})
	if changed {
		s.log.Info(s.t.Name()+" is up", "version", version, "latency", latency.Round(time.Microsecond))
	}
}

func (s *Supervisor) markDown(cause Cause, err error, wait time.Duration) {
	next := time.Now().Add(wait)
	var attempts int
	changed := s.t.Update(func(st *State) {
		st.Status = Down
		st.Cause = cause
		st.LastError = Describe(err)
		st.Attempts++
		st.NextRetry = next
		st.LastCheck = time.Now()
		attempts = st.Attempts
	})
	if changed {
		s.log.Warn(s.t.Name()+" is unavailable", "cause", cause, "error", Describe(err), "retry_in", wait.Round(time.Millisecond))
	} else {
		s.log.Debug(s.t.Name()+" reconnect failed", "cause", cause, "attempt", attempts, "retry_in", wait.Round(time.Millisecond))
	}
}

// Describe shortens an error for the health report and logs.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}
