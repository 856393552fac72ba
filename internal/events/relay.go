package events

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/redisconn"
)

// Channel is the Redis pub/sub channel that carries wake-ups between
// replicas. Messages carry the newest event id, for logs only: receivers
// always read from PostgreSQL.
const Channel = "rca:job-events"

// Relay hears of every event this process commits (eventlog.Log.OnCommit)
// and wakes the local Tailer at once and, through Redis, the Tailers of
// the other replicas.
type Relay struct {
	tailer *Tailer
	redis  *redisconn.Conn
	log    *slog.Logger
	pub    chan int64
}

// NewRelay returns a Relay; Run starts its Redis side.
func NewRelay(t *Tailer, r *redisconn.Conn, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{tailer: t, redis: r, log: log, pub: make(chan int64, 1)}
}

// Notify is called after a transaction that wrote events has committed,
// with the newest of their ids. It never blocks: wake-ups coalesce.
func (r *Relay) Notify(newest int64) {
	r.tailer.Wake()
	select {
	case r.pub <- newest:
	default:
	}
}

// Run publishes wake-ups to Redis and listens for other replicas' until
// ctx ends. While Redis is down it does nothing: the Tailers poll.
func (r *Relay) Run(ctx context.Context) {
	if r.redis.Tracker().Get().Status == dependency.Disabled {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.listen(ctx) })
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-r.pub:
			client, err := r.redis.Client()
			if err != nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = client.Publish(pctx, Channel, strconv.FormatInt(id, 10)).Err()
			cancel()
			if err != nil {
				r.redis.Failed(err)
				r.log.Debug("publish wake-up failed", "error", err)
			}
		}
	}
}

// listen subscribes once Redis is up; go-redis re-subscribes by itself
// after connection failures.
func (r *Relay) listen(ctx context.Context) {
	changes, stop := r.redis.Tracker().Subscribe()
	defer stop()
	for {
		client, err := r.redis.Client()
		if err == nil {
			ps := client.Subscribe(ctx, Channel)
			defer ps.Close()
			msgs := ps.Channel()
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-msgs:
					if !ok {
						return
					}
					r.tailer.Wake()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-time.After(5 * time.Second):
		}
	}
}
