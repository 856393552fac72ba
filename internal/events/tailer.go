package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/rca-engine/api/internal/eventlog"
)

// TailerConfig tunes how the Tailer follows job_events.
type TailerConfig struct {
	// FastPoll is the polling interval while other replicas cannot wake
	// this one (Redis down or not configured); it bounds cross-replica
	// latency then. Default 250ms.
	FastPoll time.Duration
	// SlowPoll is the safety-net interval while Redis carries wake-ups
	// (pub/sub may drop messages). Default 2s.
	SlowPoll time.Duration
	// Batch is the most events read per query. Default 500.
	Batch int
	// Fast reports whether to poll fast; nil means always.
	Fast   func() bool
	Logger *slog.Logger
}

// Tailer reads the event log in id order and publishes it to a Hub.
type Tailer struct {
	log  *eventlog.Log
	hub  *Hub
	cfg  TailerConfig
	wake chan struct{}
}

// NewTailer returns a Tailer; Run starts it.
func NewTailer(log *eventlog.Log, hub *Hub, cfg TailerConfig) *Tailer {
	if cfg.FastPoll <= 0 {
		cfg.FastPoll = 250 * time.Millisecond
	}
	if cfg.SlowPoll <= 0 {
		cfg.SlowPoll = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tailer{log: log, hub: hub, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Wake makes the Tailer read now. It never blocks.
func (t *Tailer) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run follows job_events until ctx ends. It starts from the newest event
// present when it first reaches the database (subscribers replay anything
// older from the database themselves), and keeps its cursor across
// outages, so events committed while it could not read are delivered late,
// never lost.
func (t *Tailer) Run(ctx context.Context) {
	var cursor int64
	ready := false
	for {
		if !ready {
			newest, err := t.log.Newest(ctx)
			if err == nil {
				cursor = newest
				ready = true
				t.hub.broadcast(&Message{Kind: Ready, Cursor: cursor})
				t.cfg.Logger.Debug("event tailer started", "cursor", cursor)
			}
		}
		full := false
		if ready {
			batch, err := t.log.Since(ctx, cursor, t.cfg.Batch)
			if err != nil && ctx.Err() == nil {
				t.cfg.Logger.Debug("event tailer read failed", "error", err)
			}
			for _, ev := range batch {
				t.hub.publish(ev)
				cursor = ev.ID
			}
			full = len(batch) == t.cfg.Batch
		}
		if full {
			continue // more are waiting
		}
		interval := t.cfg.SlowPoll
		switch {
		case !ready:
			interval = min(t.cfg.FastPoll, 500*time.Millisecond) // start as soon as the database is there
		case t.cfg.Fast == nil || t.cfg.Fast():
			interval = t.cfg.FastPoll
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-t.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}
