package faults

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// PortProxy forwards TCP the way a NAT or Windows' netsh portproxy does
// when it runs out of patience: a connection that stayed idle for longer
// than the idle limit is forgotten without telling either end. Whatever is
// sent on it afterwards vanishes and nothing ever comes back, so the
// sender waits until its own timeouts give up. Toxiproxy has no such toxic.
type PortProxy struct {
	ln       net.Listener
	upstream string
	limit    atomic.Int64 // nanoseconds; 0 never forgets
	dropped  atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewPortProxy listens on a free loopback port and forwards to upstream.
func NewPortProxy(upstream string, idleLimit time.Duration) (*PortProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &PortProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.limit.Store(int64(idleLimit))
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *PortProxy) Addr() string { return p.ln.Addr().String() }

// Dropped counts connections forgotten so far.
func (p *PortProxy) Dropped() int64 { return p.dropped.Load() }

// Close stops the proxy and closes every connection through it.
func (p *PortProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *PortProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *PortProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		upstream, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client, true)
		p.track(upstream, true)
		var last atomic.Int64
		var forgotten atomic.Bool
		last.Store(time.Now().UnixNano())
		pipe := func(dst, src net.Conn) {
			defer func() {
				dst.Close()
				src.Close()
				p.track(dst, false)
				p.track(src, false)
			}()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				if limit := p.limit.Load(); !forgotten.Load() && limit > 0 && now-last.Load() > limit {
					forgotten.Store(true)
					p.dropped.Add(1)
				}
				if forgotten.Load() {
					continue // the entry is gone: packets vanish
				}
				last.Store(now)
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		p.wg.Go(func() { pipe(upstream, client) })
		p.wg.Go(func() { pipe(client, upstream) })
	}
}
