// Package lifecycle gives every background component of the service one
// small contract, Start and Stop, and starts and stops them as a group: in
// order, and in reverse order, each stop waited for within a deadline, so
// that SIGTERM ends a process cleanly (a worker hands its job back before
// the database connection it needs is closed).
//
// The shape is riverqueue/river's startstop.Service, reduced to what this
// service needs.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Component is something that runs in the background.
type Component interface {
	// Start begins the work and returns once it is under way; the work
	// goes on until Stop, not until ctx ends (ctx bounds starting only).
	Start(ctx context.Context) error
	// Stop ends the work and returns once it has ended, or when ctx ends
	// first (then with ctx's error; the work may still be winding down).
	Stop(ctx context.Context) error
}

// Loop is a Component that runs fn in a goroutine until Stop cancels its
// context, for the many components whose work is one loop.
type Loop struct {
	fn func(ctx context.Context)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLoop returns a Loop running fn, which must return soon after its
// context is cancelled.
func NewLoop(fn func(ctx context.Context)) *Loop { return &Loop{fn: fn} }

// Start launches the loop; starting a started loop does nothing.
func (l *Loop) Start(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		l.fn(ctx)
	}()
	return nil
}

// Stop cancels the loop and waits for fn to return.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Funcs adapts a pair of functions to a Component.
type Funcs struct {
	OnStart func(ctx context.Context) error
	OnStop  func(ctx context.Context) error
}

func (f Funcs) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

func (f Funcs) Stop(ctx context.Context) error {
	if f.OnStop == nil {
		return nil
	}
	return f.OnStop(ctx)
}

// Blocking adapts a component whose stop is a blocking call that takes no
// deadline (a supervisor's Close): Stop runs it and waits for it within
// ctx, and reports ctx's error if it is still running then.
type Blocking struct {
	OnStart func()
	OnStop  func()
}

func (b Blocking) Start(context.Context) error {
	if b.OnStart != nil {
		b.OnStart()
	}
	return nil
}

func (b Blocking) Stop(ctx context.Context) error {
	if b.OnStop == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.OnStop()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type member struct {
	name string
	c    Component
}

// Group starts components in the order they were added and stops them in
// the reverse order.
type Group struct {
	log     *slog.Logger
	members []member
	started int
}

// NewGroup returns an empty group that logs each start and stop at debug
// level, and each failure.
func NewGroup(log *slog.Logger) *Group {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Group{log: log}
}

// Add appends a component; name is for logs and errors.
func (g *Group) Add(name string, c Component) { g.members = append(g.members, member{name, c}) }

// Names lists the components in start order.
func (g *Group) Names() []string {
	out := make([]string, len(g.members))
	for i, m := range g.members {
		out[i] = m.name
	}
	return out
}

// Start starts every component in order. If one fails, those already
// started are stopped (within ctx) and its error is returned.
func (g *Group) Start(ctx context.Context) error {
	for i := g.started; i < len(g.members); i++ {
		m := g.members[i]
		if err := m.c.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", m.name, err)
			g.log.Error("component did not start", "component", m.name, "error", err)
			return errors.Join(err, g.Stop(ctx))
		}
		g.started = i + 1
		g.log.Debug("component started", "component", m.name)
	}
	return nil
}

// Stop stops the started components in reverse order, each waited for,
// all within ctx. A component that does not stop in time is reported and
// the next one is stopped anyway: a stuck component must not keep the
// others running. The error joins every failure.
func (g *Group) Stop(ctx context.Context) error {
	var errs []error
	for i := g.started - 1; i >= 0; i-- {
		m := g.members[i]
		start := time.Now()
		if err := m.c.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", m.name, err))
			g.log.Warn("component did not stop cleanly", "component", m.name, "error", err)
			continue
		}
		g.log.Debug("component stopped", "component", m.name, "took", time.Since(start))
	}
	g.started = 0
	return errors.Join(errs...)
}
