package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for many streams at once (the stream caps and storm tests and
// the storm benchmark). sseClient buffers 100,000 events per stream, too
// much for a thousand of them; a stormStream keeps only the ids of the job
// events it received.

// addrClient returns a client whose connections come from the loopback
// address 127.0.0.n: one process can then be many clients to the service,
// which tells them apart by address, without leaving the machine.
func addrClient(n int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   64,
		ResponseHeaderTimeout: 60 * time.Second, // a "does not hang" bound, never reached when all is well
	}}
}

// stormReq is one stream to open.
type stormReq struct {
	client      *http.Client
	path        string
	lastEventID string
	header      map[string]string
}

// stormStream is one opened (or refused) stream.
type stormStream struct {
	req    stormReq
	err    error         // the request failed outright
	status int           // the response's status
	header http.Header   // the response's header
	body   string        // a refusal's body
	took   time.Duration // until the response's header arrived

	mu     sync.Mutex
	ids    []int64       // ids of the job events received, in order
	got    chan struct{} // a job event arrived (coalesced)
	closed chan struct{} // the stream ended
	cancel context.CancelFunc
}

// open sends the request and, for a 200, reads the stream in the
// background until it ends or close is called.
func (s *stormStream) open(base string) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.got = make(chan struct{}, 1)
	s.closed = make(chan struct{})
	req, _ := http.NewRequestWithContext(ctx, "GET", base+s.req.path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if s.req.lastEventID != "" {
		req.Header.Set("Last-Event-ID", s.req.lastEventID)
	}
	for k, v := range s.req.header {
		req.Header.Set(k, v)
	}
	began := time.Now()
	resp, err := s.req.client.Do(req)
	s.took = time.Since(began)
	if err != nil {
		s.err = err
		close(s.closed)
		return
	}
	s.status, s.header = resp.StatusCode, resp.Header
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		s.body = string(b)
		close(s.closed)
		return
	}
	go func() {
		defer close(s.closed)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var id, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				// Job events are the only ones whose data is an event
				// row ({"id":…}); heartbeats, dependency and reset
				// events are not counted.
				if strings.HasPrefix(data, `{"id":`) {
					if n, err := strconv.ParseInt(id, 10, 64); err == nil {
						s.mu.Lock()
						s.ids = append(s.ids, n)
						s.mu.Unlock()
						select {
						case s.got <- struct{}{}:
						default:
						}
					}
				}
				id, data = "", ""
			case strings.HasPrefix(line, "id:"):
				id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "data:"):
				data = strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			}
		}
	}()
}

func (s *stormStream) close() {
	if s.cancel != nil {
		s.cancel()
	}
}

// received returns a copy of the job event ids received so far.
func (s *stormStream) received() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ids...)
}

// waitFor waits until the stream has received n job events, it ended, or
// the deadline passed; it reports whether n arrived.
func (s *stormStream) waitFor(n int, deadline time.Time) bool {
	for {
		if len(s.received()) >= n {
			return true
		}
		select {
		case <-s.got:
		case <-s.closed:
			return len(s.received()) >= n
		case <-time.After(time.Until(deadline)):
			return len(s.received()) >= n
		}
	}
}

// openStorm opens every stream at the same moment and returns once each
// has its answer (or its request failed).
func openStorm(t testing.TB, base string, reqs []stormReq) []*stormStream {
	t.Helper()
	streams := make([]*stormStream, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range reqs {
		s := &stormStream{req: r}
		streams[i] = s
		wg.Go(func() {
			<-start
			s.open(base)
		})
	}
	close(start)
	wg.Wait()
	return streams
}

// closeAll ends every stream and waits for their readers to stop.
func closeAll(streams []*stormStream) {
	for _, s := range streams {
		s.close()
	}
	for _, s := range streams {
		<-s.closed
	}
}
