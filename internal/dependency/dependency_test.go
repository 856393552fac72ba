package dependency

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		next time.Time
		want int
	}{
		{"unknown", time.Time{}, 1},
		{"past", now.Add(-time.Minute), 1},
		{"sub-second", now.Add(200 * time.Millisecond), 1},
		{"rounds up", now.Add(2100 * time.Millisecond), 3},
		{"whole", now.Add(10 * time.Second), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (State{NextRetry: tt.next}).RetryAfter(now); got != tt.want {
				t.Errorf("RetryAfter = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTrackerSinceMovesOnlyWhenStatusOrCauseChanges(t *testing.T) {
	tr := NewTracker("pg", Connecting)
	tr.Update(func(s *State) { s.Status = Down; s.Cause = CauseUnreachable })
	since := tr.Get().Since
	time.Sleep(2 * time.Millisecond)
	if changed := tr.Update(func(s *State) { s.Attempts++ }); changed || !tr.Get().Since.Equal(since) {
		t.Errorf("another failed attempt moved Since or reported a change")
	}
	if changed := tr.Update(func(s *State) { s.Cause = CauseAuthFailed }); !changed || !tr.Get().Since.After(since) {
		t.Errorf("a new cause did not count as a change")
	}
}

func TestSlowSubscriberGetsTheNewestState(t *testing.T) {
	tr := NewTracker("pg", Connecting)
	ch, cancel := tr.Subscribe()
	defer cancel()
	for i := range 10 {
		tr.Update(func(s *State) { s.Attempts = i })
	}
	if got := (<-ch).Attempts; got != 9 {
		t.Errorf("subscriber got attempts=%d, want the newest (9)", got)
	}
	cancel()
	tr.Update(func(s *State) { s.Attempts = 100 }) // must not block or panic after cancel
}

func TestSetDegraded(t *testing.T) {
	pg, redis := NewTracker("postgres", Up), NewTracker("redis", Disabled)
	set := Set{pg, redis}
	if got := set.Degraded(); got != nil {
		t.Errorf("Degraded = %v with postgres up and redis disabled", got)
	}
	pg.Update(func(s *State) { s.Status = Down })
	redis.Update(func(s *State) { s.Status = Connecting })
	if got := strings.Join(set.Degraded(), ","); got != "postgres,redis" {
		t.Errorf("Degraded = %q", got)
	}
}

// fakeProbe fails until up is set, and records attempt times.
type fakeProbe struct {
	up       atomic.Bool
	mu       sync.Mutex
	attempts []time.Time
}

func (f *fakeProbe) probe(minWait time.Duration) Probe {
	fail := func() error {
		if f.up.Load() {
			return nil
		}
		return errors.New("connection refused")
	}
	return Probe{
		Connect: func(context.Context) (int64, error) {
			f.mu.Lock()
			f.attempts = append(f.attempts, time.Now())
			f.mu.Unlock()
			return 7, fail()
		},
		Check:    func(context.Context) error { return fail() },
		Classify: func(error) Cause { return CauseUnreachable },
		MinWait:  func(Cause) time.Duration { return minWait },
	}
}

func (f *fakeProbe) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

func runSupervisor(t *testing.T, tr *Tracker, p Probe, cfg SupervisorConfig) *Supervisor {
	t.Helper()
	s := NewSupervisor(tr, p, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("supervisor did not stop")
		}
	})
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	f := &fakeProbe{}
	tr := NewTracker("pg", Connecting)
	runSupervisor(t, tr, f.probe(0), SupervisorConfig{CheckInterval: time.Hour,
		ReconnectInitial: 2 * time.Millisecond, ReconnectMax: 40 * time.Millisecond, KickInterval: time.Millisecond})
	waitFor(t, "12 attempts", func() bool { return f.count() >= 12 })
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.attempts[1].Sub(f.attempts[0])
	last := f.attempts[11].Sub(f.attempts[10])
	if last <= first {
		t.Errorf("backoff did not grow: first gap %s, last gap %s", first, last)
	}
	// Jitter is ±50% around an interval capped at ReconnectMax.
	for i := 1; i < 12; i++ {
		if gap := f.attempts[i].Sub(f.attempts[i-1]); gap > 60*time.Millisecond+20*time.Millisecond {
			t.Errorf("gap %d = %s exceeds the cap with jitter", i, gap)
		}
	}
}

func TestKickBringsTheNextAttemptForward(t *testing.T) {
	f := &fakeProbe{}
	tr := NewTracker("pg", Connecting)
	s := runSupervisor(t, tr, f.probe(0), SupervisorConfig{CheckInterval: time.Hour,
		ReconnectInitial: time.Hour, ReconnectMax: time.Hour, KickInterval: 20 * time.Millisecond})
	waitFor(t, "first attempt", func() bool { return tr.Get().Status == Down })
	f.up.Store(true)
	// A burst of kicks causes one early attempt, not one per kick.
	for range 100 {
		s.Kick()
	}
	waitFor(t, "up after a kick", func() bool { return tr.Get().Status == Up })
	if n := f.count(); n != 2 {
		t.Errorf("%d attempts, want 2 (the first, and one brought forward by the kicks)", n)
	}
	if v := tr.Get().Version; v != 7 {
		t.Errorf("version = %d, want the probe's 7", v)
	}
}

func TestMinWaitIgnoresKicks(t *testing.T) {
	f := &fakeProbe{}
	tr := NewTracker("pg", Connecting)
	s := runSupervisor(t, tr, f.probe(time.Hour), SupervisorConfig{CheckInterval: time.Hour,
		ReconnectInitial: time.Millisecond, ReconnectMax: time.Millisecond, KickInterval: time.Millisecond})
	waitFor(t, "first attempt", func() bool { return tr.Get().Status == Down })
	for range 50 {
		s.Kick()
		time.Sleep(time.Millisecond)
	}
	if n := f.count(); n != 1 {
		t.Errorf("%d attempts despite a one-hour floor", n)
	}
}

func TestStateChangesAreLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	f := &fakeProbe{}
	tr := NewTracker("pg", Connecting)
	runSupervisor(t, tr, f.probe(0), SupervisorConfig{CheckInterval: time.Millisecond,
		ReconnectInitial: time.Millisecond, ReconnectMax: 2 * time.Millisecond, KickInterval: time.Millisecond, Logger: log})
	waitFor(t, "ten failed attempts", func() bool { return f.count() >= 10 })
	f.up.Store(true)
	waitFor(t, "up", func() bool { return tr.Get().Status == Up })
	f.up.Store(false) // the check fails: up -> down again
	waitFor(t, "down again", func() bool { return tr.Get().Status == Down })
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	// The state turns down before its line is written: wait for the line,
	// then give a repeated one time to appear.
	waitFor(t, "the second outage logged", func() bool { return strings.Count(logged(), "pg is unavailable") >= 2 })
	time.Sleep(20 * time.Millisecond)
	out := logged()
	if n := strings.Count(out, "pg is unavailable"); n != 2 {
		t.Errorf("logged 'unavailable' %d times for two outages:\n%s", n, out)
	}
	if n := strings.Count(out, "pg is up"); n != 1 {
		t.Errorf("logged 'up' %d times, want 1", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
