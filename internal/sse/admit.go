package sse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Streams are cheap to open and expensive to hold: a connection, three
// goroutines and a buffer each, for hours. A rate limit counts opens, so a
// client could open a few a second and keep them all; Admit counts what
// is held instead, per client and in total. It runs before anything else
// of a stream (the job lookup included), so a refusal costs a map lookup.

// Refusal is why Admit refused a stream.
type Refusal struct {
	// Total is true when the process holds MaxStreams already; otherwise
	// the client holds MaxStreamsPerClient.
	Total bool
	// Limit is the cap that was reached.
	Limit int
	// RetryAfter is when to try again: SSE_RETRY to twice it, at random,
	// so that a storm refused at once does not come back at once.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string {
	if r.Total {
		return fmt.Sprintf("this process holds its maximum of %d event streams", r.Limit)
	}
	return fmt.Sprintf("this client holds its maximum of %d event streams", r.Limit)
}

// admissions counts the streams held, by client and in total.
type admissions struct {
	mu       sync.Mutex
	total    int
	byClient map[string]int // only clients holding streams: it does not grow with history

	refusedClient atomic.Int64
	refusedTotal  atomic.Int64
}

// Admit reserves room for one stream of client, the key its caller counts
// clients by (the HTTP edge uses its rate-limit key: the account, else the
// address). release gives the room back and must be called once the
// stream's handler has returned; calling it again does nothing. A refusal
// is a *Refusal.
func (s *Server) Admit(client string) (release func(), err error) {
	a := &s.admitted
	a.mu.Lock()
	defer a.mu.Unlock()
	// The client's cap first: a client at its own cap is told so (429),
	// even when the process is full too.
	if limit := s.cfg.MaxStreamsPerClient; limit > 0 && a.byClient[client] >= limit {
		a.refusedClient.Add(1)
		return nil, &Refusal{Limit: limit, RetryAfter: s.refusedRetry()}
	}
	if limit := s.cfg.MaxStreams; limit > 0 && a.total >= limit {
		a.refusedTotal.Add(1)
		return nil, &Refusal{Total: true, Limit: limit, RetryAfter: s.refusedRetry()}
	}
	a.total++
	a.byClient[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.total--
			if a.byClient[client]--; a.byClient[client] <= 0 {
				delete(a.byClient, client)
			}
		})
	}, nil
}

// Admitted is the number of streams Admit has let in and not yet released.
func (s *Server) Admitted() int {
	s.admitted.mu.Lock()
	defer s.admitted.mu.Unlock()
	return s.admitted.total
}

// Refused counts the streams Admit refused: for the client's cap, and for
// the process's.
func (s *Server) Refused() (client, total int64) {
	return s.admitted.refusedClient.Load(), s.admitted.refusedTotal.Load()
}

func (s *Server) refusedRetry() time.Duration {
	return s.cfg.Retry + rand.N(s.cfg.Retry+1)
}

// acquireCatchUp takes a catch-up slot, waiting at most CatchUpWait: a
// session that finds none does not queue on the database (where it would
// hold up ordinary requests behind the storm) but tries again later, see
// catchUpRetry. It reports whether a slot was taken; releaseCatchUp gives
// it back.
func (s *Server) acquireCatchUp(ctx context.Context) bool {
	if s.catchUps == nil {
		return true
	}
	select {
	case s.catchUps <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.cfg.CatchUpWait)
	defer t.Stop()
	select {
	case s.catchUps <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	s.deferred.Add(1)
	return false
}

func (s *Server) releaseCatchUp() {
	if s.catchUps != nil {
		<-s.catchUps
	}
}

// catchUpRetry is how long a session waits before trying a deferred
// catch-up again: one to three times CatchUpWait, at random, so that the
// sessions put off together do not all come back together. Much sooner
// than the next heartbeat: a page waits for its first events meanwhile.
func (s *Server) catchUpRetry() time.Duration {
	w := s.cfg.CatchUpWait
	return w + rand.N(2*w)
}
