package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/pgtest"
)

// checkRefusal fails unless s was refused with status, as a problem of
// type typ with a Retry-After of at least a second.
func checkRefusal(t *testing.T, s *stormStream, status int, typ string) {
	t.Helper()
	if s.err != nil {
		t.Fatalf("%s: %v", s.req.path, s.err)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal([]byte(s.body), &p)
	retry, err := strconv.Atoi(s.header.Get("Retry-After"))
	if s.status != status || s.header.Get("Content-Type") != "application/problem+json" || p.Type != typ ||
		p.Status != status || p.Detail == "" || err != nil || retry < 1 {
		t.Errorf("%s = %d %q Retry-After %q %s; want a %d %s problem with Retry-After",
			s.req.path, s.status, s.header.Get("Content-Type"), s.header.Get("Retry-After"), s.body, status, typ)
	}
}

func openOne(t *testing.T, svc *service, r stormReq) *stormStream {
	t.Helper()
	s := &stormStream{req: r}
	s.open(svc.base)
	t.Cleanup(func() { s.close(); <-s.closed })
	return s
}

func metricHas(t *testing.T, svc *service, line string) bool {
	t.Helper()
	return slices.Contains(strings.Split(string(svc.get(t, "/metrics").body), "\n"), line)
}

// TestStreamCaps: the stream one past a cap is refused before it starts
// (429 for a client's cap, 503 for the process's), problem and Retry-After;
// the streams already open stay open; another client still gets one under
// the client cap; and closing a stream gives its place back.
func TestStreamCaps(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		addrs  []int // the client address of each stream opened first
		next   int   // the address of the one refused
		status int
		typ    string
		metric string
		other  bool // another client still gets a stream
	}{
		{"per client", map[string]string{"SSE_MAX_STREAMS_PER_CLIENT": "3"}, []int{2, 2, 2}, 2,
			429, "urn:rca:problem:too-many-streams", `rca_sse_streams_refused_total{limit="client"} 2`, true},
		{"in total", map[string]string{"SSE_MAX_STREAMS": "3"}, []int{2, 3, 4}, 5,
			503, "urn:rca:problem:streams-full", `rca_sse_streams_refused_total{limit="total"} 2`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL, _ := pgtest.NewDatabase(t)
			env := fastEnv(dbURL)
			for k, v := range tt.env {
				env[k] = v
			}
			svc := startUp(t, env)
			jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
			var open []*stormStream
			for i, a := range tt.addrs {
				path := "/api/sse/events"
				if i%2 == 1 {
					path = "/api/sse/jobs/" + jobID
				}
				s := openOne(t, svc, stormReq{client: addrClient(a), path: path})
				if s.status != 200 {
					t.Fatalf("stream %d of %d = %d %v %s", i+1, len(tt.addrs), s.status, s.err, s.body)
				}
				open = append(open, s)
			}
			// Both kinds of stream count, and are refused alike.
			for _, path := range []string{"/api/sse/events", "/api/sse/jobs/" + jobID} {
				checkRefusal(t, openOne(t, svc, stormReq{client: addrClient(tt.next), path: path}), tt.status, tt.typ)
			}
			if !metricHas(t, svc, tt.metric) {
				t.Errorf("/metrics lacks %s", tt.metric)
			}
			for i, s := range open {
				select {
				case <-s.closed:
					t.Errorf("stream %d ended when another was refused", i+1)
				default:
				}
			}
			if tt.other {
				if s := openOne(t, svc, stormReq{client: addrClient(tt.next + 1), path: "/api/sse/events"}); s.status != 200 {
					t.Errorf("another client's stream = %d %s, want 200", s.status, s.body)
				}
			}
			open[0].close()
			<-open[0].closed
			pgtest.Eventually(t, 10*time.Second, "a closed stream's place is given back", func() bool {
				s := openOne(t, svc, stormReq{client: addrClient(tt.next), path: "/api/sse/events"})
				s.close()
				return s.status == 200
			})
		})
	}
}

// TestStreamCapFollowsTheAccount: a signed-in caller's streams count
// against its account wherever they come from, and not against the
// address it shares with anonymous callers (the rate limits' key).
func TestStreamCapFollowsTheAccount(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["AUTH_MODE"] = "writes"
	env["JWT_SECRET_KEY"] = rand.Text() + rand.Text()
	name := "admin-" + strings.ToLower(rand.Text()[:8]) // its own sign-in limits in the shared Redis
	env["ADMIN_EMAIL"], env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"] = name+"@example.com", name, "first-admin-"+rand.Text()
	env["SSE_MAX_STREAMS_PER_CLIENT"] = "2"
	svc := startUp(t, env)
	waitForAdmin(t, dbURL)
	pgtest.Eventually(t, 10*time.Second, "first admin can sign in", func() bool {
		return svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).status == 200
	})
	token := map[string]string{"Authorization": "Bearer " + svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).json(t)["access_token"].(string)}

	for range 2 {
		if s := openOne(t, svc, stormReq{client: addrClient(2), path: "/api/sse/events"}); s.status != 200 {
			t.Fatalf("anonymous stream = %d", s.status)
		}
	}
	checkRefusal(t, openOne(t, svc, stormReq{client: addrClient(2), path: "/api/sse/events"}), 429, "urn:rca:problem:too-many-streams")
	// The same address, signed in: the account's own count.
	for _, a := range []int{2, 3} {
		if s := openOne(t, svc, stormReq{client: addrClient(a), path: "/api/sse/events", header: token}); s.status != 200 {
			t.Fatalf("signed-in stream from 127.0.0.%d = %d %s", a, s.status, s.body)
		}
	}
	// From a fresh address, the account is still at its cap.
	checkRefusal(t, openOne(t, svc, stormReq{client: addrClient(4), path: "/api/sse/events", header: token}),
		429, "urn:rca:problem:too-many-streams")
}

// TestStreamStorm: 300 streams open at once, resuming with Last-Event-ID
// (so each replays from PostgreSQL, through one catch-up slot), from 10
// addresses, past both caps, while events are written and another client
// reads GET /api/jobs. Every refusal is a 429 or 503 with Retry-After and
// exactly the caps' worth of streams is accepted; the ordinary reads all
// answer (a "does not hang" bound, no timing claim); and every accepted
// stream receives exactly the events after its Last-Event-ID, those
// written during the storm and one written after it included, in order,
// none twice.
func TestStreamStorm(t *testing.T) {
	const (
		addrs, perAddr = 10, 30
		perClient      = 28  // 20 streams over the client caps
		total          = 250 // and 30 more over the process's
	)
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["SSE_MAX_STREAMS_PER_CLIENT"] = strconv.Itoa(perClient)
	env["SSE_MAX_STREAMS"] = strconv.Itoa(total)
	env["SSE_MAX_CATCHUPS"] = "1"
	env["LOG_LEVEL"] = "info"
	svc := startUp(t, env)
	var jobIDs []string
	for range 5 {
		jobIDs = append(jobIDs, createJob(t, svc, map[string]any{"job_type": "storm"})["id"].(string))
	}
	start := pgtest.QueryInt(t, dbURL, "SELECT max(id) FROM job_events")
	for _, id := range jobIDs {
		for range 4 {
			createTicket(t, svc, id)
		}
	}

	var reqs []stormReq
	for a := range addrs {
		c := addrClient(2 + a)
		for i := range perAddr {
			if i%2 == 0 {
				reqs = append(reqs, stormReq{client: c, path: "/api/sse/events", lastEventID: strconv.FormatInt(start, 10)})
			} else {
				reqs = append(reqs, stormReq{client: c, path: "/api/sse/jobs/" + jobIDs[i%len(jobIDs)], lastEventID: "0"})
			}
		}
	}

	// Ordinary reads and writes all through the storm.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	reads := 0
	bg.Go(func() {
		for ; ; reads++ {
			select {
			case <-stop:
				return
			default:
			}
			// The client's 20 s timeout is the "does not hang" bound.
			if status, err := svc.try("GET", "/api/jobs", ""); status != 200 {
				t.Errorf("GET /api/jobs during the storm = %d %v", status, err)
				return
			}
		}
	})
	bg.Go(func() {
		for i := range 20 {
			body := `{"job_id":"` + jobIDs[i%len(jobIDs)] + `","platform":"jira"}`
			if status, err := svc.try("POST", "/api/tickets", body); status != 201 {
				t.Errorf("POST /api/tickets during the storm = %d %v", status, err)
				return
			}
		}
	})
	streams := openStorm(t, svc.base, reqs)
	defer closeAll(streams)
	close(stop)
	bg.Wait()
	if reads == 0 {
		t.Error("no GET /api/jobs answered during the storm")
	}

	var accepted []*stormStream
	refused := map[int]int{}
	for _, s := range streams {
		switch {
		case s.err != nil:
			t.Fatalf("%s: %v", s.req.path, s.err)
		case s.status == 200:
			accepted = append(accepted, s)
		case s.status == 429:
			checkRefusal(t, s, 429, "urn:rca:problem:too-many-streams")
			refused[429]++
		case s.status == 503:
			checkRefusal(t, s, 503, "urn:rca:problem:streams-full")
			refused[503]++
		default:
			t.Errorf("%s = %d %s", s.req.path, s.status, s.body)
		}
	}
	if len(accepted) != total || refused[429]+refused[503] != len(reqs)-total {
		t.Fatalf("accepted %d, refused %v; want %d accepted and the rest refused", len(accepted), refused, total)
	}
	t.Logf("accepted %d, refused %d with 429 and %d with 503", len(accepted), refused[429], refused[503])

	// After the storm: one more event per job, which every stream must get.
	for _, id := range jobIDs {
		createTicket(t, svc, id)
	}
	wants := map[string][]int64{
		"/api/sse/events": queryIDs(t, dbURL, "SELECT id FROM job_events WHERE id > $1 ORDER BY id", start),
	}
	for _, id := range jobIDs {
		wants["/api/sse/jobs/"+id] = queryIDs(t, dbURL, "SELECT id FROM job_events WHERE job_id = $1 ORDER BY id", id)
	}
	for _, s := range accepted {
		want := wants[s.req.path]
		s.waitFor(len(want), time.Now().Add(30*time.Second))
		if got := s.received(); !slices.Equal(got, want) {
			t.Fatalf("%s (Last-Event-ID %s) received %d events %v, want the %d after it %v",
				s.req.path, s.req.lastEventID, len(got), got, len(want), want)
		}
	}
	t.Logf("catch-ups put off for a slot: %s", metricValue(t, svc, "rca_sse_catchups_deferred_total"))
}

// queryIDs returns the event ids a query selects.
func queryIDs(t *testing.T, dbURL, query string, args ...any) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// try sends a request from a goroutine other than the test's, where
// t.Fatal must not be called: an error is the caller's to report.
func (s *service) try(method, path, body string) (int, error) {
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func metricValue(t *testing.T, svc *service, name string) string {
	t.Helper()
	for _, line := range strings.Split(string(svc.get(t, "/metrics").body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "absent"
}
