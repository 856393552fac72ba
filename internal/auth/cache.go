package auth

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The credential cache keeps what Authenticate read of a session or an API
// token (validity, the user's active flag and role), so that a signed-in
// request does not read PostgreSQL every time, while a revocation, a
// logout, a deactivation or a role change still takes effect within
// StaleBound on every replica.
//
// Invalidation rides on PostgreSQL LISTEN/NOTIFY rather than Redis pub/sub:
// every write that ends or changes a credential calls pg_notify in its own
// transaction, so the notice commits with the change and cannot be lost to
// a writer that is cut from Redis after its commit (a Redis message would
// be published after the commit, by a process that may no longer reach
// Redis, and other replicas would keep trusting their long-lived entries).
// Every replica needs PostgreSQL to check a credential it has not cached
// anyway, so the channel adds no dependency.
//
// Each replica holds one dedicated connection that LISTENs and pings every
// heartbeat. An entry is trusted for up to longTTL while that connection is
// known healthy (a ping answered within healthyWindow: PostgreSQL sends a
// notification before it answers a later query on the same session, so a
// change committed before the ping was seen). Otherwise, or before the
// listener ever ran, an entry is trusted only for staleTTL after it was
// read, which with the read that follows keeps a change within StaleBound.
const (
	// StaleBound is the longest an ended or changed credential is still
	// accepted by a replica that cannot hear of the change.
	StaleBound = time.Second
	// staleTTL leaves a quarter of the bound to the read that replaces an
	// entry (a request arriving just after expiry waits on it).
	staleTTL = 750 * time.Millisecond
	// longTTL bounds an entry while invalidations arrive: a backstop, not
	// the mechanism.
	longTTL = time.Minute
	// heartbeat is how often the listener pings; healthyWindow is how long
	// a ping's success vouches for the channel.
	heartbeat     = 100 * time.Millisecond
	healthyWindow = 400 * time.Millisecond
	// maxCached bounds each map. Only credentials that checked out are
	// cached (a session id comes from a token we signed, an API token's
	// hash from a row that exists), so a flood of junk cannot fill it.
	maxCached = 100_000
)

// InvalidationChannel is the PostgreSQL NOTIFY channel of credential
// changes. Payloads: "s:<session id>", "u:<user id>", "t:<token id>", "*".
const InvalidationChannel = "rca_auth"

type sessionEntry struct {
	user    User
	expires time.Time
	checked int64 // mono ns
}

type tokenEntry struct {
	user      User
	id        uuid.UUID
	role      Role
	expiresAt *time.Time
	lastUsed  *time.Time
	checked   int64
}

type credCache struct {
	start time.Time // monotonic base

	mu       sync.RWMutex
	sessions map[uuid.UUID]sessionEntry
	tokens   map[[32]byte]tokenEntry
	access   map[string]verified

	// gen counts invalidations: a read that started before one must not
	// store what it read (it may predate the change).
	gen atomic.Uint64
	// confirmed is when (mono ns) the listener last proved the channel
	// delivers; 0: never.
	confirmed atomic.Int64
	hits      atomic.Uint64
	misses    atomic.Uint64
}

func newCredCache() *credCache {
	return &credCache{start: time.Now(), sessions: map[uuid.UUID]sessionEntry{}, tokens: map[[32]byte]tokenEntry{},
		access: map[string]verified{}}
}

func (c *credCache) now() int64 { return int64(time.Since(c.start)) }

// fresh says whether an entry read at checked may be used now.
func (c *credCache) fresh(checked int64) bool {
	now := c.now()
	age := now - checked
	if age < int64(staleTTL) {
		return true
	}
	conf := c.confirmed.Load()
	return conf != 0 && now-conf < int64(healthyWindow) && age < int64(longTTL)
}

func (c *credCache) session(sid uuid.UUID) (sessionEntry, bool) {
	c.mu.RLock()
	e, ok := c.sessions[sid]
	c.mu.RUnlock()
	if ok && c.fresh(e.checked) {
		c.hits.Add(1)
		return e, true
	}
	c.misses.Add(1)
	return sessionEntry{}, false
}

func (c *credCache) putSession(gen uint64, sid uuid.UUID, e sessionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.sessions) >= maxCached {
		clear(c.sessions)
	}
	c.sessions[sid] = e
}

func (c *credCache) token(h [32]byte) (tokenEntry, bool) {
	c.mu.RLock()
	e, ok := c.tokens[h]
	c.mu.RUnlock()
	if ok && c.fresh(e.checked) {
		c.hits.Add(1)
		return e, true
	}
	c.misses.Add(1)
	return tokenEntry{}, false
}

func (c *credCache) putToken(gen uint64, h [32]byte, e tokenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.tokens) >= maxCached {
		clear(c.tokens)
	}
	c.tokens[h] = e
}

// invalidate applies one notification payload. Unknown payloads flush
// everything: wrong in the safe direction.
func (c *credCache) invalidate(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	kind, rest, _ := strings.Cut(payload, ":")
	id, err := uuid.Parse(rest)
	switch {
	case err != nil:
		clear(c.sessions)
		clear(c.tokens)
	case kind == "s":
		delete(c.sessions, id)
	case kind == "t":
		for h, e := range c.tokens {
			if e.id == id {
				delete(c.tokens, h)
			}
		}
	case kind == "u":
		for k, e := range c.sessions {
			if e.user.ID == id {
				delete(c.sessions, k)
			}
		}
		for h, e := range c.tokens {
			if e.user.ID == id {
				delete(c.tokens, h)
			}
		}
	default:
		clear(c.sessions)
		clear(c.tokens)
	}
}

// CacheStats are the credential cache's counters, for metrics.
type CacheStats struct {
	Hits, Misses uint64
	// ChannelHealthy: invalidations are known to arrive, so entries live
	// past StaleBound.
	ChannelHealthy bool
}

// CacheStats returns the credential cache's counters.
func (s *Service) CacheStats() CacheStats {
	conf := s.cache.confirmed.Load()
	return CacheStats{Hits: s.cache.hits.Load(), Misses: s.cache.misses.Load(),
		ChannelHealthy: conf != 0 && s.cache.now()-conf < int64(healthyWindow)}
}

// notify queues a credential change in tx: PostgreSQL delivers it to
// every listener when, and only if, tx commits.
func notify(ctx context.Context, tx interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, payload string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, InvalidationChannel, payload)
	return err
}

// Connector opens a dedicated PostgreSQL connection that calls onNotify
// for each notification it receives (db.DB.Dial).
type Connector func(ctx context.Context, onNotify pgconn.NotificationHandler) (*pgx.Conn, error)

// ListenForChanges keeps a LISTEN session open on connect's connection
// until ctx ends, applying other replicas' (and this one's) credential
// changes to the cache and vouching for the channel while it answers. It
// reconnects after failures; while it is down, entries live StaleBound.
func (s *Service) ListenForChanges(ctx context.Context, connect Connector) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, connect)
		s.cache.confirmed.Store(0)
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("credential invalidation channel lost; entries now live "+StaleBound.String(), "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (s *Service) listenOnce(ctx context.Context, connect Connector) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := connect(cctx, func(_ *pgconn.PgConn, n *pgconn.Notification) { s.cache.invalidate(n.Payload) })
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = conn.Exec(lctx, `LISTEN `+InvalidationChannel)
	cancel()
	if err != nil {
		return err
	}
	// Changes made while no session listened were not heard: forget
	// everything read before this one began.
	s.cache.invalidate("*")
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		sent := s.cache.now()
		pctx, cancel := context.WithTimeout(ctx, healthyWindow)
		_, err := conn.Exec(pctx, `SELECT 1`)
		cancel()
		if err != nil {
			return err
		}
		s.cache.confirmed.Store(max(sent, 1))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// touchToken records that the token's last use was written, so that the
// cached entry does not write again within the minute.
func (c *credCache) touchToken(h [32]byte, at time.Time) {
	c.mu.Lock()
	if e, ok := c.tokens[h]; ok {
		e.lastUsed = &at
		c.tokens[h] = e
	}
	c.mu.Unlock()
}

// verified is what checking an access token's signature and claims gave:
// a token is immutable, so the check need not run again until it expires.
type verified struct {
	subject string
	sid     uuid.UUID
	expires time.Time
}

// parseAccess is sign.parse for access tokens, remembering the tokens that
// passed (only ours: a forged or junk token is never stored, so a flood of
// them cannot fill the map). A remembered token is checked again in full
// once it is past its expiry, so that the answer is the same expired-token
// error as without the cache.
func (s *Service) parseAccess(raw string) (subject string, sid uuid.UUID, err error) {
	c := s.cache
	c.mu.RLock()
	v, ok := c.access[raw]
	c.mu.RUnlock()
	if ok && s.cfg.Now().Before(v.expires.Add(tokenLeeway)) {
		return v.subject, v.sid, nil
	}
	claims, sid, _, err := s.sign.parse(raw, Access)
	if err != nil {
		return "", uuid.Nil, err
	}
	v = verified{subject: claims.Subject, sid: sid, expires: claims.ExpiresAt.Time}
	c.mu.Lock()
	if len(c.access) >= maxCached {
		clear(c.access)
	}
	c.access[raw] = v
	c.mu.Unlock()
	return v.subject, sid, nil
}
