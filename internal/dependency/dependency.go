// Package dependency tracks the state of the service's external dependencies
// (PostgreSQL, Redis) so that every part of the service can answer, without
// doing any I/O, "is this dependency usable right now, and if not, why and
// until when?".
//
// The state is written by the goroutine that owns the connection (the
// supervisor in package db or redisconn) and read by everyone else: the HTTP
// edge for the X-Degraded header and fast 503s, the health report, metrics and,
// later, the event streams. Reads are lock-free so that reading the state on
// every request costs nothing measurable.
package dependency

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the coarse condition of a dependency.
type Status string

const (
	// Connecting means no connection has succeeded yet since start-up.
	Connecting Status = "connecting"
	// Up means the dependency answered its last check.
	Up Status = "up"
	// Down means the dependency was reachable once, or never, and its last
	// attempt failed; calls fail fast until a reconnect succeeds.
	Down Status = "down"
	// Disabled means the dependency is not configured; it is not degraded.
	Disabled Status = "disabled"
)

// Cause says why a dependency is not up. Ops read it in the health report to
// tell a network problem from a configuration problem.
type Cause string

const (
	CauseNone            Cause = ""
	CauseUnreachable     Cause = "unreachable"      // refused, reset, timed out, DNS
	CauseAuthFailed      Cause = "auth_failed"      // wrong password or unknown role
	CauseDatabaseMissing Cause = "database_missing" // the database in the URL does not exist
	CauseMigrationFailed Cause = "migration_failed" // connected, but the schema could not be brought up to date
	CauseTimeout         Cause = "timeout"          // believed up, but did not answer in time
)

// State is a snapshot of one dependency. It is a value: readers get a copy.
type State struct {
	Name      string    `json:"name"`
	Status    Status    `json:"status"`
	Since     time.Time `json:"since"`
	Cause     Cause     `json:"cause,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// Attempts counts connection attempts that failed since the dependency
	// was last up.
	Attempts int `json:"attempts"`
	// TotalAttempts counts every connection attempt since start-up.
	TotalAttempts int64 `json:"total_attempts"`
	// NextRetry is when the supervisor will try again; zero while up.
	NextRetry time.Time `json:"next_retry,omitzero"`
	// LastCheck is when the dependency was last checked, and Latency how long
	// that check took.
	LastCheck time.Time     `json:"last_check,omitzero"`
	Latency   time.Duration `json:"-"`
	// Version is dependency specific: the schema version for PostgreSQL.
	Version int64 `json:"version,omitempty"`
}

// Degraded reports whether callers that need this dependency will be refused.
func (s State) Degraded() bool {
	return s.Status == Connecting || s.Status == Down
}

// RetryAfter is the number of whole seconds a client should wait before it
// tries again, at least 1 so that clients never retry in a tight loop.
func (s State) RetryAfter(now time.Time) int {
	if s.NextRetry.IsZero() {
		return 1
	}
	secs := int(math.Ceil(s.NextRetry.Sub(now).Seconds()))
	return max(secs, 1)
}

// Tracker holds the current state of one dependency and notifies subscribers
// of changes.
type Tracker struct {
	name  string
	state atomic.Pointer[State]

	mu     sync.Mutex // serialises writers and guards subs
	subs   map[int]chan State
	nextID int
}

// NewTracker returns a tracker whose dependency starts in status initial.
func NewTracker(name string, initial Status) *Tracker {
	t := &Tracker{name: name, subs: make(map[int]chan State)}
	t.state.Store(&State{Name: name, Status: initial, Since: time.Now()})
	return t
}

// Name is the dependency's name, as used in X-Degraded and health checks.
func (t *Tracker) Name() string { return t.name }

// Get returns the current state. It never blocks.
func (t *Tracker) Get() State { return *t.state.Load() }

// Update applies fn to a copy of the state and stores the result. Since is
// moved to now whenever Status or Cause changes. It reports whether the status
// or cause changed, which is what callers log, and notifies subscribers of
// every update.
func (t *Tracker) Update(fn func(*State)) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.state.Load()
	next := *old
	fn(&next)
	next.Name = t.name
	changed = next.Status != old.Status || next.Cause != old.Cause
	if changed {
		next.Since = time.Now()
	}
	t.state.Store(&next)
	for _, ch := range t.subs {
		// A subscriber that is behind gets the newest state: drop the stale
		// one rather than block the writer, which is the connection owner.
		select {
		case ch <- next:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- next:
			default:
			}
		}
	}
	return changed
}

// Touch stores fn's changes without notifying subscribers. It is for figures
// that change on every check (latency, last check time) and that nobody needs
// to be woken up for.
func (t *Tracker) Touch(fn func(*State)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := *t.state.Load()
	fn(&next)
	next.Name = t.name
	t.state.Store(&next)
}

// Subscribe returns a channel that receives the state after every update, and
// a function that ends the subscription. The channel holds at most the newest
// state; a slow reader skips intermediate ones but never misses the latest.
func (t *Tracker) Subscribe() (<-chan State, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.nextID
	t.nextID++
	ch := make(chan State, 1)
	t.subs[id] = ch
	return ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.subs, id)
	}
}

// Set is the service's dependencies, in a fixed order.
type Set []*Tracker

// Degraded returns the names of the dependencies that are impaired, in order.
func (s Set) Degraded() []string {
	var names []string
	for _, t := range s {
		if t.Get().Degraded() {
			names = append(names, t.name)
		}
	}
	return names
}

// States returns a snapshot of every dependency.
func (s Set) States() []State {
	out := make([]State, len(s))
	for i, t := range s {
		out[i] = t.Get()
	}
	return out
}

// PoolStats are a connection pool's figures, for health reports: plain
// numbers, so that a report needs no driver's types.
type PoolStats struct {
	Total, Idle, Acquired, Constructing, Max  int32
	Acquires, EmptyAcquires, CanceledAcquires int64
	Opened, ClosedIdle, ClosedLifetime        int64
}
