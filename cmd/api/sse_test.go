package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	id, name, data string
}

// sseClient reads a stream the way EventSource does.
type sseClient struct {
	status   int
	header   http.Header
	events   chan sseEvent
	comments atomic.Int64
	cancel   context.CancelFunc
	closed   chan struct{} // closed when the server ends the stream
}

func openStream(t *testing.T, url, lastEventID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	c := &sseClient{status: resp.StatusCode, header: resp.Header, events: make(chan sseEvent, 100000),
		cancel: cancel, closed: make(chan struct{})}
	t.Cleanup(c.close)
	go func() {
		defer close(c.closed)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != nil || ev.name != "" {
					ev.data = strings.Join(data, "\n")
					c.events <- ev
				}
				ev.name, data = "", nil
			case strings.HasPrefix(line, ":"):
				c.comments.Add(1)
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "id":
					ev.id = value
				case "event":
					ev.name = value
				case "data":
					data = append(data, value)
				}
			}
		}
	}()
	return c
}

func (c *sseClient) close() { c.cancel() }

// next returns the next event other than a heartbeat or dependency event,
// failing after timeout (a "does not hang" bound).
func (c *sseClient) next(t *testing.T, timeout time.Duration, skip ...string) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-c.events:
			if slicesContains(skip, ev.name) {
				continue
			}
			return ev
		case <-c.closed:
			select {
			case ev := <-c.events:
				if !slicesContains(skip, ev.name) {
					return ev
				}
				continue
			default:
			}
			t.Fatalf("stream ended while waiting for an event")
		case <-deadline:
			t.Fatalf("no event within %s", timeout)
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var background = []string{"heartbeat", "dependency"}

type jobEventJSON struct {
	ID        int64  `json:"id"`
	JobID     string `json:"job_id"`
	EventType string `json:"event_type"`
}

func decodeEvent(t *testing.T, ev sseEvent) jobEventJSON {
	t.Helper()
	var j jobEventJSON
	if err := json.Unmarshal([]byte(ev.data), &j); err != nil {
		t.Fatalf("event %q data is not a job event: %v: %s", ev.name, err, ev.data)
	}
	if ev.id != strconv.FormatInt(j.ID, 10) || ev.name != j.EventType {
		t.Fatalf("event framing id=%q event=%q does not match its data %+v", ev.id, ev.name, j)
	}
	return j
}

func createTicket(t *testing.T, svc *service, jobID string) {
	t.Helper()
	r := svc.postJSON(t, "/api/tickets", map[string]any{"job_id": jobID, "platform": "jira"}, nil)
	if r.status != 201 {
		t.Fatalf("create ticket = %d %s", r.status, r.body)
	}
}

// TestReconnectingClientsSeeEveryEventExactlyOnce is the replay property:
// while writers publish concurrently, a client that keeps disconnecting at
// random points and reconnecting with Last-Event-ID receives every event
// committed after it started, exactly once, in order; on the all-events
// stream and on one job's stream.
func TestReconnectingClientsSeeEveryEventExactlyOnce(t *testing.T) {
	svc, dbURL := upService(t)
	var jobIDs []string
	for range 3 {
		jobIDs = append(jobIDs, createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string))
	}
	start := pgtest.QueryInt(t, dbURL, "SELECT max(id) FROM job_events")

	const perWriter = 40
	var writers sync.WaitGroup
	for w := range 3 {
		writers.Go(func() {
			for range perWriter {
				createTicket(t, svc, jobIDs[w])
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { writers.Wait(); close(writersDone) }()

	collect := func(path, lastID string, belongs func(jobEventJSON) bool) []int64 {
		var got []int64
		giveUp := time.Now().Add(60 * time.Second)
		for round := 0; ; round++ {
			c := openStream(t, svc.base+path, lastID)
			if c.status != 200 {
				t.Fatalf("GET %s = %d", path, c.status)
			}
			take := 1 + round%7 // disconnect after a few events
		reading:
			for i := 0; i < take; i++ {
				select {
				case ev := <-c.events:
					if slicesContains(background, ev.name) {
						i--
						continue
					}
					j := decodeEvent(t, ev)
					if belongs(j) {
						got = append(got, j.ID)
					}
					lastID = ev.id
				case <-time.After(2 * time.Second):
					break reading // quiet: perhaps done
				}
			}
			c.close()
			select {
			case <-writersDone:
				want := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM job_events WHERE id > $1", start)
				if path != "/api/sse/events" {
					want = pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM job_events WHERE id > $1 AND job_id = $2", start, jobIDs[0])
				}
				if int64(len(got)) >= want || time.Now().After(giveUp) {
					return got
				}
			default:
			}
		}
	}

	var all, one []int64
	var readers sync.WaitGroup
	readers.Go(func() {
		all = collect("/api/sse/events", strconv.FormatInt(start, 10), func(jobEventJSON) bool { return true })
	})
	readers.Go(func() {
		one = collect("/api/sse/jobs/"+jobIDs[0], strconv.FormatInt(start, 10), func(j jobEventJSON) bool { return j.JobID == jobIDs[0] })
	})
	readers.Wait()

	check := func(name string, got []int64, query string, args ...any) {
		want := pgtest.QueryInt(t, dbURL, query, args...)
		if int64(len(got)) != want {
			t.Errorf("%s: received %d events, the database has %d", name, len(got), want)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("%s: event %d after %d: duplicate or out of order", name, got[i], got[i-1])
			}
		}
	}
	check("all-events stream", all, "SELECT count(*) FROM job_events WHERE id > $1", start)
	check("job stream", one, "SELECT count(*) FROM job_events WHERE id > $1 AND job_id = $2", start, jobIDs[0])
}

func TestJobStreamContract(t *testing.T) {
	svc, _ := upService(t)
	jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
	createTicket(t, svc, jobID)

	for _, path := range []string{"/api/sse/jobs/" + jobID, "/api/jobs/" + jobID + "/stream"} {
		c := openStream(t, svc.base+path, "")
		if c.status != 200 || c.header.Get("Content-Type") != "text/event-stream" || c.header.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("%s: %d %v", path, c.status, c.header)
		}
		first, second := decodeEvent(t, c.next(t, 5*time.Second, background...)), decodeEvent(t, c.next(t, 5*time.Second, background...))
		if first.EventType != "created" || second.EventType != "ticket-created" {
			t.Errorf("%s replayed %s, %s; want created, ticket-created", path, first.EventType, second.EventType)
		}
		c.close()
	}

	c := openStream(t, svc.base+"/api/sse/jobs/"+jobID, "")
	c.next(t, 5*time.Second, background...)
	c.next(t, 5*time.Second, background...)
	if r := svc.send(t, "POST", "/api/jobs/"+jobID+"/cancel", "", nil, nil); r.status != 200 {
		t.Fatal(r.status)
	}
	cancelled := c.next(t, 5*time.Second, background...)
	complete := c.next(t, 5*time.Second, background...)
	if cancelled.name != "cancelled" || complete.name != "complete" || !strings.Contains(complete.data, `"status":"cancelled"`) {
		t.Errorf("after cancel: %+v then %+v", cancelled, complete)
	}
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Error("the stream of a finished job did not close")
	}

	// Reconnecting after the end: nothing more to say, and EventSource
	// must stop trying.
	if again := openStream(t, svc.base+"/api/sse/jobs/"+jobID, complete.id); again.status != 204 {
		t.Errorf("reconnect after complete = %d, want 204", again.status)
	}
	// Reconnecting from an earlier point: the rest, then complete.
	rest := openStream(t, svc.base+"/api/sse/jobs/"+jobID, strconv.FormatInt(decodeEvent(t, cancelled).ID-1, 10))
	if ev := rest.next(t, 5*time.Second, background...); ev.name != "cancelled" {
		t.Errorf("resumed stream starts with %q, want cancelled", ev.name)
	}
	if ev := rest.next(t, 5*time.Second, background...); ev.name != "complete" {
		t.Errorf("then %q, want complete", ev.name)
	}

	for _, path := range []string{"/api/sse/jobs/00000000-0000-4000-8000-000000000000", "/api/sse/jobs/nope"} {
		r := svc.get(t, path)
		if r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s = %d %q, want a 404 problem before any streaming", path, r.status, r.header.Get("Content-Type"))
		}
	}
}

func TestBadLastEventIDGetsAResetEventNotAnError(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["SSE_REPLAY_LIMIT"] = "5"
	svc := startUp(t, env)
	jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
	for range 8 {
		createTicket(t, svc, jobID)
	}
	tests := []struct{ lastID, reason string }{
		{"abc", "invalid-last-event-id"},
		{"-4", "invalid-last-event-id"},
		{"99999999", "unknown-last-event-id"},
		{"1", "too-many-missed"},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/sse/jobs/" + jobID, "/api/sse/events"} {
			c := openStream(t, svc.base+path, tt.lastID)
			if c.status != 200 {
				t.Errorf("%s with Last-Event-ID %q = %d, want 200 and a reset event", path, tt.lastID, c.status)
				continue
			}
			ev := c.next(t, 5*time.Second, background...)
			if ev.name != "reset" || !strings.Contains(ev.data, tt.reason) {
				t.Errorf("%s with Last-Event-ID %q: first event %+v, want reset %s", path, tt.lastID, ev, tt.reason)
			}
			if path != "/api/sse/events" {
				// Then it starts over as a new client: the recent events.
				if next := c.next(t, 5*time.Second, background...); next.name != "created" {
					t.Errorf("after reset: %+v, want the job's recent events from the start", next)
				}
			}
			c.close()
		}
	}
}

func TestHeartbeats(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["SSE_HEARTBEAT_INTERVAL"] = "200ms"
	svc := startUp(t, env)
	jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
	job := openStream(t, svc.base+"/api/sse/jobs/"+jobID, "")
	all := openStream(t, svc.base+"/api/sse/events", "")
	time.Sleep(1100 * time.Millisecond)
	for name, c := range map[string]*sseClient{"job": job, "all": all} {
		if n := c.comments.Load(); n < 3 || n > 8 {
			t.Errorf("%s stream: %d heartbeat comments in 1.1s at a 200ms interval", name, n)
		}
	}
	var beats int
	for len(job.events) > 0 {
		ev := <-job.events
		if ev.name == "heartbeat" {
			beats++
			if !strings.Contains(ev.data, `"status":"pending"`) || !strings.Contains(ev.data, jobID) || ev.id == "" {
				t.Errorf("heartbeat event %+v", ev)
			}
		}
	}
	if beats < 3 {
		t.Errorf("%d heartbeat events on the job stream, want several", beats)
	}
}

func TestStreamsSurviveADatabaseOutage(t *testing.T) {
	dbURL, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	env := fastEnv(pgtest.WithHost(t, dbURL, proxy.Addr()))
	env["SSE_HEARTBEAT_INTERVAL"] = "200ms"
	svc := startUp(t, env)
	jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
	job := openStream(t, svc.base+"/api/sse/jobs/"+jobID, "")
	all := openStream(t, svc.base+"/api/sse/events", "")
	job.next(t, 5*time.Second, background...) // created

	waitDependency := func(c *sseClient, status string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-c.events:
				if ev.name == "dependency" && strings.Contains(ev.data, `"name":"postgres"`) && strings.Contains(ev.data, `"status":"`+status+`"`) {
					return
				}
			case <-deadline:
				t.Fatalf("no dependency event postgres %s", status)
			}
		}
	}
	proxy.Down()
	waitDependency(job, "down")
	waitDependency(all, "down")
	before := job.comments.Load()
	time.Sleep(500 * time.Millisecond)
	if job.comments.Load() <= before {
		t.Error("heartbeats stopped while the database was down")
	}
	if r := svc.get(t, "/api/sse/jobs/"+jobID); r.status != 503 || r.took > time.Second {
		t.Errorf("a new job stream while down = %d in %s, want a fast 503", r.status, r.took)
	}
	if c := openStream(t, svc.base+"/api/sse/events", ""); c.status != 200 {
		t.Errorf("the all-events stream while down = %d, want 200 (it needs no database to start)", c.status)
	}

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	waitDependency(job, "up")
	waitDependency(all, "up")
	pgtest.Eventually(t, 10*time.Second, "writes work again", func() bool {
		return svc.postJSON(t, "/api/tickets", map[string]any{"job_id": jobID, "platform": "jira"}, nil).status == 201
	})
	if ev := job.next(t, 5*time.Second, background...); ev.name != "ticket-created" {
		t.Errorf("job stream after the outage: %+v", ev)
	}
	if ev := all.next(t, 5*time.Second, background...); ev.name != "ticket-created" {
		t.Errorf("all-events stream after the outage: %+v", ev)
	}
}

func TestEventsReachOtherReplicas(t *testing.T) {
	redisAddr := pgtest.RequireRedis(t)
	tests := []struct {
		name      string
		redisDown bool
	}{
		{"through Redis", false},
		{"Redis down: polling", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL, _ := pgtest.NewDatabase(t)
			proxy := faults.NewT(t, redisAddr)
			env := fastEnv(dbURL)
			env["REDIS_URL"] = "redis://" + proxy.Addr() + "/0"
			if tt.redisDown {
				proxy.Down()
				env["EVENTS_POLL_INTERVAL"] = "200ms"
			} else {
				// Only a Redis wake-up can deliver within the test's bound.
				env["EVENTS_POLL_INTERVAL"] = "1h"
				env["EVENTS_SAFETY_POLL_INTERVAL"] = "1h"
			}
			a, b := startService(t, env), startService(t, env)
			for _, s := range []*service{a, b} {
				pgtest.Eventually(t, 10*time.Second, "up", func() bool {
					h := s.get(t, "/api/health")
					return s.get(t, "/api/jobs").status == 200 && (tt.redisDown || !strings.Contains(string(h.body), `"state":"connecting"`))
				})
			}
			jobID := createJob(t, a, map[string]any{"job_type": "x"})["id"].(string)
			onB := openStream(t, b.base+"/api/sse/jobs/"+jobID, "")
			allB := openStream(t, b.base+"/api/sse/events", "")
			onB.next(t, 5*time.Second, background...) // created (replayed from the database)
			time.Sleep(300 * time.Millisecond)        // let B's Redis subscription settle
			createTicket(t, a, jobID)
			began := time.Now()
			if ev := onB.next(t, 10*time.Second, background...); ev.name != "ticket-created" {
				t.Errorf("replica B's job stream got %+v", ev)
			}
			// "From now" starts where B's hub is: the job's created event
			// may or may not count as new there, the ticket certainly does.
			if ev := allB.next(t, 10*time.Second, append(background, "created")...); ev.name != "ticket-created" {
				t.Errorf("replica B's all-events stream got %+v", ev)
			}
			t.Logf("event written on A reached B after %s", time.Since(began).Round(time.Millisecond))
			if tt.redisDown {
				if h := b.get(t, "/api/health"); h.json(t)["status"] != "warn" || h.header.Get("X-Degraded") != "redis" {
					t.Errorf("health on B with Redis down = %s", h.body)
				}
			}
		})
	}
}

// TestSlowClientIsCutOffAndOthersAreNot: one client stops reading while a
// burst of large events is published. It is disconnected; a reading client
// gets every event; the requests that produced them are not held up.
func TestSlowClientIsCutOffAndOthersAreNot(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["SSE_CLIENT_BUFFER"] = "4"
	env["SSE_WRITE_TIMEOUT"] = "500ms"
	svc := startUp(t, env)

	stalled, err := net.Dial("tcp", strings.TrimPrefix(svc.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "GET /api/sse/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	reader := openStream(t, svc.base+"/api/sse/events", "")
	time.Sleep(200 * time.Millisecond)

	blob := strings.Repeat("x", 256<<10)
	const n = 60
	for i := range n {
		r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "big", "input_manifest": map[string]any{"blob": blob}}, nil)
		if r.status != 201 {
			t.Fatalf("POST %d = %d", i, r.status)
		}
		if r.took > 2*time.Second {
			t.Errorf("POST %d took %s while a client was stalled", i, r.took)
		}
	}
	for i := range n {
		if ev := reader.next(t, 20*time.Second, background...); ev.name != "created" {
			t.Fatalf("reading client, event %d: %q", i, ev.name)
		}
	}
	pgtest.Eventually(t, 20*time.Second, "the stalled client is cut off", func() bool {
		m := string(svc.get(t, "/metrics").body)
		return strings.Contains(m, "rca_sse_evictions_total 1") && strings.Contains(m, "rca_sse_streams_open 1")
	})
	// The stalled connection was closed by the server: reading it now ends
	// with EOF long before all 60 events (15 MB).
	stalled.SetReadDeadline(time.Now().Add(20 * time.Second))
	var total int64
	buf := make([]byte, 1<<20)
	for {
		k, err := stalled.Read(buf)
		total += int64(k)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the stalled connection is still open")
			}
			break
		}
	}
	if total > int64(n)*int64(len(blob)) {
		t.Errorf("the stalled client received %d bytes, everything: it was not cut off", total)
	}
}
