// Package events delivers job events, in commit order, to the subscribers
// of this process, whichever replica wrote them.
//
// PostgreSQL's job_events table is the only source: a Tailer reads it in id
// order and is the only publisher of job events to the Hub. Local commits
// and Redis pub/sub messages from other replicas are only wake-ups that make
// the Tailer read sooner; with Redis down it polls. Because the event log
// never shows an id before every smaller one has committed (see package
// eventlog), reading "id > cursor" never skips an event, and a subscriber
// that joins with a database replay and then the live feed, deduplicating
// by id, sees every event exactly once.
package events

import (
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
)

// Kind says what a Message carries.
type Kind int

const (
	// JobEvent: a committed job event.
	JobEvent Kind = iota
	// DependencyChange: a dependency changed status or cause.
	DependencyChange
	// Ready: the Tailer has started; Cursor is where it starts from.
	Ready
)

// Message is what a subscriber receives.
type Message struct {
	Kind  Kind
	Event eventlog.Event
	// Encoded is Event as JSON, encoded once for every subscriber.
	Encoded    []byte
	Dependency dependency.State
	Cursor     int64
}

// Hub fans messages out to subscribers without ever blocking the
// publisher: a subscriber whose buffer is full is evicted (its Evicted
// channel closes), and it is up to its owner to end the connection, after
// which the client reconnects and catches up from PostgreSQL. A slow client
// thus costs itself a reconnect and never delays anyone else.
type Hub struct {
	mu            sync.RWMutex
	byJob         map[uuid.UUID]map[*Subscription]struct{}
	all           map[*Subscription]struct{}
	ready         bool
	lastPublished int64
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{byJob: map[uuid.UUID]map[*Subscription]struct{}{}, all: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's feed. Messages are shared by every
// subscriber and must not be modified; pointers keep an idle subscriber's
// buffer small (256 pointers rather than 256 copies of a Message).
type Subscription struct {
	C       <-chan *Message
	c       chan *Message
	jobID   *uuid.UUID
	hub     *Hub
	evicted chan struct{}
	once    sync.Once
}

// Evicted closes when the hub dropped the subscription for being too slow.
func (s *Subscription) Evicted() <-chan struct{} { return s.evicted }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.remove(s)
	s.hub.mu.Unlock()
}

// Subscribe registers a subscriber for one job's events (jobID not nil) or
// for all of them, with a buffer of the given size. It also reports,
// atomically with the registration, whether the Tailer is running and the
// id of the last event it published: every event with a greater id will be
// delivered to this subscription.
func (h *Hub) Subscribe(jobID *uuid.UUID, buffer int) (sub *Subscription, ready bool, lastPublished int64) {
	c := make(chan *Message, buffer)
	sub = &Subscription{C: c, c: c, jobID: jobID, hub: h, evicted: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if jobID != nil {
		set := h.byJob[*jobID]
		if set == nil {
			set = map[*Subscription]struct{}{}
			h.byJob[*jobID] = set
		}
		set[sub] = struct{}{}
	} else {
		h.all[sub] = struct{}{}
	}
	return sub, h.ready, h.lastPublished
}

// remove unregisters s; h.mu must be held for writing.
func (h *Hub) remove(s *Subscription) {
	if s.jobID != nil {
		if set := h.byJob[*s.jobID]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(h.byJob, *s.jobID)
			}
		}
	} else {
		delete(h.all, s)
	}
}

// Published returns the id of the last event published, 0 before the
// Tailer has started. Every event at or below it has been read from a
// consistent view of the log, so a replay bounded by it needs no lock.
func (h *Hub) Published() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.lastPublished
}

// Count returns the number of subscriptions.
func (h *Hub) Count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := len(h.all)
	for _, set := range h.byJob {
		n += len(set)
	}
	return n
}

// publish delivers ev to its job's subscribers and to everyone's stream.
// Only the Tailer calls it, in id order.
func (h *Hub) publish(ev eventlog.Event) {
	encoded, _ := json.Marshal(ev)
	h.broadcastTo(&Message{Kind: JobEvent, Event: ev, Encoded: encoded, Cursor: ev.ID}, &ev.JobID)
}

// broadcast delivers m to every subscription.
func (h *Hub) broadcast(m *Message) { h.broadcastTo(m, nil) }

// broadcastTo delivers m to the subscribers of everything and, for a job
// event, of that job (jobID not nil), or else to every subscriber. It holds
// the write lock throughout so that a concurrent Subscribe sees either the
// message delivered or lastPublished not yet moved past it: never a message
// that went to others but is already behind its cursor.
func (h *Hub) broadcastTo(m *Message, jobID *uuid.UUID) {
	var slow []*Subscription
	h.mu.Lock()
	defer h.mu.Unlock()
	switch m.Kind {
	case Ready:
		h.ready = true
		h.lastPublished = m.Cursor
	case JobEvent:
		h.lastPublished = m.Cursor
	}
	each := func(s *Subscription) {
		if !offer(s, m) {
			slow = append(slow, s)
		}
	}
	for s := range h.all {
		each(s)
	}
	if jobID != nil {
		for s := range h.byJob[*jobID] {
			each(s)
		}
	} else {
		for _, set := range h.byJob {
			for s := range set {
				each(s)
			}
		}
	}
	for _, s := range slow {
		h.remove(s)
		s.once.Do(func() { close(s.evicted) })
	}
}

// BroadcastDependency tells every subscriber about a dependency's state.
func (h *Hub) BroadcastDependency(st dependency.State) {
	h.broadcast(&Message{Kind: DependencyChange, Dependency: st})
}

func offer(s *Subscription, m *Message) bool {
	select {
	case s.c <- m:
		return true
	default:
		return false
	}
}
