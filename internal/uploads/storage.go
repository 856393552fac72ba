package uploads

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/dependency"
)

// Storage is the content store as a supervised dependency, like
// PostgreSQL and Redis: its state is tracked (health names it "storage"),
// a failure marks it down at once, and a supervisor pings it back up with
// backoff. While it is down uploads and downloads fail fast with 503.
type Storage struct {
	store   blob.Store
	tracker *dependency.Tracker
	sup     *dependency.Supervisor
}

// StorageName is the dependency's name in health and problems.
const StorageName = "storage"

// NewStorage supervises store. checkEvery is how often a store that is up
// is pinged (default 10s).
func NewStorage(store blob.Store, checkEvery time.Duration, log *slog.Logger) *Storage {
	if checkEvery <= 0 {
		checkEvery = 10 * time.Second
	}
	t := dependency.NewTracker(StorageName, dependency.Connecting)
	ping := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return store.Ping(ctx)
	}
	sup := dependency.NewSupervisor(t, dependency.Probe{
		Connect: func(ctx context.Context) (int64, error) { return 0, ping(ctx) },
		Check:   ping,
		Classify: func(err error) dependency.Cause {
			if errors.Is(err, context.DeadlineExceeded) {
				return dependency.CauseTimeout
			}
			return dependency.CauseUnreachable
		},
	}, dependency.SupervisorConfig{CheckInterval: checkEvery, ReconnectInitial: 250 * time.Millisecond,
		ReconnectMax: 15 * time.Second, KickInterval: time.Second, Logger: log})
	return &Storage{store: store, tracker: t, sup: sup}
}

// Store is the supervised store.
func (s *Storage) Store() blob.Store { return s.store }

// Tracker is the store's state, for health.
func (s *Storage) Tracker() *dependency.Tracker { return s.tracker }

// Start supervises in the background until Stop. A store that answers
// within a moment (a local directory always does) is up before Start
// returns, so the first requests do not see it "connecting"; one that does
// not is left to the supervisor, without delaying start-up further.
func (s *Storage) Start(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	began := time.Now()
	err := s.store.Ping(pctx)
	cancel()
	if err == nil {
		s.tracker.Update(func(st *dependency.State) {
			st.Status, st.Cause, st.LastError, st.LastCheck, st.Latency = dependency.Up, dependency.CauseNone, "", time.Now(), time.Since(began)
		})
	}
	s.sup.Start(ctx)
}

// Stop ends the supervision.
func (s *Storage) Stop() { s.sup.Stop() }

// gate fails fast while the store is not known to be up.
func (s *Storage) gate() error {
	st := s.tracker.Get()
	if st.Status == dependency.Up {
		return nil
	}
	s.sup.Kick()
	return &StorageError{State: st}
}

// failed turns a failure of the store itself into a StorageError; other
// errors (the caller's context, a missing key, our own reader) pass.
func (s *Storage) failed(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !blob.IsUnavailable(err) {
		return err
	}
	st := s.tracker.Get()
	if st.Status == dependency.Up {
		// The supervisor has not noticed yet: describe what this call saw
		// and ask it to look.
		st.Status, st.Cause, st.NextRetry = dependency.Down, dependency.CauseUnreachable, time.Now().Add(time.Second)
	}
	s.sup.Kick()
	return &StorageError{State: st, Err: err}
}
