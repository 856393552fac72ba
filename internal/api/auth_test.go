package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/ratelimit"
	"github.com/rca-engine/api/internal/redisconn"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/internal/tickets"
)

// client is one caller of an edge: its Authorization header and cookies.
type client struct {
	h       http.Handler
	bearer  string
	cookies map[string]*http.Cookie
	addr    string
}

func (c *client) send(req *http.Request) *httptest.ResponseRecorder {
	if c.bearer != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for _, ck := range c.cookies {
		if strings.HasPrefix(req.URL.Path, ck.Path) {
			req.AddCookie(ck)
		}
	}
	if c.addr != "" {
		req.RemoteAddr = c.addr
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if c.cookies == nil {
			c.cookies = map[string]*http.Cookie{}
		}
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return rec
}

func (c *client) json(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

func (c *client) login(username, password string) *httptest.ResponseRecorder {
	form := url.Values{"username": {username}, "password": {password}}
	req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

// signIn registers (if needed) and signs in; the client then carries the
// access token.
func (c *client) signIn(t *testing.T, username, password string) tokenResponse {
	t.Helper()
	rec := c.login(username, password)
	if rec.Code != 200 {
		t.Fatalf("login %s = %d %s", username, rec.Code, rec.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	c.bearer = tr.AccessToken
	return tr
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("not a problem: %d %s %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	return p
}

// world is one database with an admin, a user and their tokens.
type world struct {
	userPass, adminPass string
	userID, adminID     string
	userToken           string // rca_ API token with the user role
	adminToken          string // rca_ API token with the admin role
}

func setUpWorld(t *testing.T, h http.Handler) world {
	t.Helper()
	w := world{userPass: "user-password-1", adminPass: "admin-password-1"}
	anon := &client{h: h}
	for _, u := range []struct{ name, pass string }{{"alice", w.userPass}, {"root", w.adminPass}} {
		rec := anon.json("POST", "/api/auth/register", fmt.Sprintf(`{"email":"%s@example.com","username":"%s","password":"%s"}`, u.name, u.name, u.pass))
		if rec.Code != 201 {
			t.Fatalf("register %s = %d %s", u.name, rec.Code, rec.Body)
		}
		var got struct{ ID string }
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if u.name == "alice" {
			w.userID = got.ID
		} else {
			w.adminID = got.ID
		}
	}
	return w
}

func TestSignInFlowOverHTTP(t *testing.T) {
	d := newLiveDB(t)
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites}, nil)
	c := &client{h: h}
	hostile := `Zoë "<img src=x onerror=alert(1)>" '; DROP TABLE users;-- 🎉`
	rec := c.json("POST", "/api/auth/register", `{"email":"zoe@example.com","username":"zoe","password":"a-good-password","full_name":`+strconv.Quote(hostile)+`}`)
	if rec.Code != 201 {
		t.Fatalf("register = %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "password") {
		t.Fatalf("the registration answer mentions the password: %s", rec.Body)
	}
	// 400 with the original's title, and the field named, as before.
	if rec := c.json("POST", "/api/auth/register", `{"email":"ZOE@example.com","username":"zoe2","password":"a-good-password"}`); rec.Code != 400 {
		t.Fatalf("duplicate email = %d %s", rec.Code, rec.Body)
	} else if p := decodeProblem(t, rec); p.Errors[0].Field != "email" || p.Title != "Already registered" ||
		p.Type != typeValidation || p.Detail != "This email is already registered." {
		t.Fatalf("duplicate email problem = %+v", p)
	}
	if rec := c.json("POST", "/api/auth/register", `{"email":"not-an-email","username":"a@b","password":"short"}`); rec.Code != 422 ||
		len(decodeProblem(t, rec).Errors) != 3 {
		t.Fatalf("invalid registration = %d %s", rec.Code, rec.Body)
	}

	// Wrong password, and a multipart form as the original accepted.
	if rec := c.login("zoe", "wrong-password"); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong password = %d %s", rec.Code, rec.Body)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("username", "zoe@example.com")
	_ = mw.WriteField("password", "a-good-password")
	mw.Close()
	req := httptest.NewRequest("POST", "/api/auth/login", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if rec := c.send(req); rec.Code != 200 {
		t.Fatalf("multipart login = %d %s", rec.Code, rec.Body)
	}
	first := c.signIn(t, "zoe", "a-good-password")
	ck := c.cookies[refreshCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/api/auth" || first.TokenType != "bearer" ||
		first.ExpiresIn < 800 || first.ExpiresIn > 900 {
		t.Fatalf("login answer %+v, cookie %+v", first, ck)
	}

	rec = c.json("GET", "/api/auth/me", "")
	var meRaw map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &meRaw)
	if rec.Code != 200 || meRaw["full_name"] != hostile || meRaw["role"] != "user" || meRaw["is_superuser"] != false {
		t.Fatalf("me = %d %s", rec.Code, rec.Body)
	}

	// A refresh token is not an access token.
	rec = (&client{h: h, bearer: first.RefreshToken}).json("GET", "/api/auth/me", "")
	if rec.Code != 401 || !strings.Contains(decodeProblem(t, rec).Detail, "access token is required") {
		t.Fatalf("refresh token as access = %d %s", rec.Code, rec.Body)
	}

	// The UI refreshes with its cookie; another site cannot.
	req = httptest.NewRequest("POST", "/api/auth/refresh", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := c.send(req); rec.Code != 401 {
		t.Fatalf("cross-site cookie refresh = %d %s", rec.Code, rec.Body)
	}
	c.cookies[refreshCookie] = ck // the 401 cleared it; the browser's other tab still has it
	rec = c.json("POST", "/api/auth/refresh", "{}")
	var second tokenResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &second)
	rotated := c.cookies[refreshCookie].Value
	// The cookie rotates; the body does not repeat it, so a script that
	// reads responses never holds the long-lived token.
	if rec.Code != 200 || rotated == first.RefreshToken || second.AccessToken == "" || strings.Contains(rec.Body.String(), `"refresh_token"`) {
		t.Fatalf("cookie refresh = %d %s", rec.Code, rec.Body)
	}
	c.bearer = second.AccessToken

	// Logout ends every token of the session, for every client.
	rec = c.json("POST", "/api/auth/logout", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Successfully logged out") || c.cookies[refreshCookie] != nil {
		t.Fatalf("logout = %d %s (cookie %v)", rec.Code, rec.Body, c.cookies[refreshCookie])
	}
	if rec := c.json("GET", "/api/auth/me", ""); rec.Code != 401 || !strings.Contains(decodeProblem(t, rec).Detail, "session has ended") {
		t.Fatalf("access token after logout = %d %s", rec.Code, rec.Body)
	}
	if rec := c.json("POST", "/api/auth/refresh", `{"refresh_token":"`+rotated+`"}`); rec.Code != 401 {
		t.Fatalf("refresh token after logout = %d %s", rec.Code, rec.Body)
	}
	if rec := c.json("POST", "/api/jobs", `{"job_type":"rca"}`); rec.Code != 401 {
		t.Fatalf("write after logout = %d %s", rec.Code, rec.Body)
	}

	// Replay of a rotated refresh token (past the grace) revokes the family.
	third := c.signIn(t, "zoe", "a-good-password")
	rec = c.json("POST", "/api/auth/refresh", `{"refresh_token":"`+third.RefreshToken+`"}`)
	if rec.Code != 200 {
		t.Fatalf("refresh = %d %s", rec.Code, rec.Body)
	}
	if _, err := d.Exec(context.Background(), `UPDATE auth_sessions SET rotated_at = rotated_at - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	rec = c.json("POST", "/api/auth/refresh", `{"refresh_token":"`+third.RefreshToken+`"}`)
	if rec.Code != 401 || !strings.Contains(decodeProblem(t, rec).Detail, "already used") {
		t.Fatalf("replayed refresh = %d %s", rec.Code, rec.Body)
	}
	if rec := c.json("GET", "/api/auth/me", ""); rec.Code != 401 {
		t.Fatalf("the family's access token survived a replay: %d", rec.Code)
	}

	// Jobs created by a signed-in user are theirs, whatever user_id says.
	c.signIn(t, "zoe", "a-good-password")
	rec = c.json("POST", "/api/jobs", `{"job_type":"rca","user_id":"someone-else"}`)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"user_id":"zoe"`) {
		t.Fatalf("job = %d %s", rec.Code, rec.Body)
	}
}

func TestAPITokensOverHTTP(t *testing.T) {
	d := newLiveDB(t)
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites}, nil)
	w := setUpWorld(t, h)
	c := &client{h: h}
	c.signIn(t, "alice", w.userPass)
	if rec := c.json("POST", "/api/auth/tokens", `{"name":"ci","role":"admin"}`); rec.Code != 403 {
		t.Fatalf("user minting an admin token = %d %s", rec.Code, rec.Body)
	}
	rec := c.json("POST", "/api/auth/tokens", `{"name":"file watcher","expires_in_days":30}`)
	var created struct {
		ID, Token, Prefix, Role string
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &created)
	if rec.Code != 201 || !strings.HasPrefix(created.Token, "rca_") || created.Role != "user" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create token = %d %s", rec.Code, rec.Body)
	}
	bot := &client{h: h, bearer: created.Token}
	if rec := bot.json("POST", "/api/jobs", `{"job_type":"watch"}`); rec.Code != 201 {
		t.Fatalf("write with API token = %d %s", rec.Code, rec.Body)
	}
	if rec := bot.json("POST", "/api/auth/tokens", `{"name":"more"}`); rec.Code != 403 {
		t.Fatalf("a token minting tokens = %d %s", rec.Code, rec.Body)
	}
	rec = c.json("GET", "/api/auth/tokens", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), created.Token) || !strings.Contains(rec.Body.String(), created.Prefix) {
		t.Fatalf("list = %d %s", rec.Code, rec.Body)
	}
	if rec := c.json("GET", "/api/auth/tokens?all=true", ""); rec.Code != 403 {
		t.Fatalf("user listing all tokens = %d", rec.Code)
	}
	if rec := c.json("DELETE", "/api/auth/tokens/"+created.ID, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"revoked_at":"`) {
		t.Fatalf("revoke = %d %s", rec.Code, rec.Body)
	}
	if rec := bot.json("POST", "/api/jobs", `{"job_type":"watch"}`); rec.Code != 401 || !strings.Contains(rec.Body.String(), "revoked") {
		t.Fatalf("revoked token = %d %s", rec.Code, rec.Body)
	}
}

// TestEveryRouteByRole checks who may call each route in each mode. The
// table must name every registered route, so a new route cannot be added
// without deciding who may call it.
func TestEveryRouteByRole(t *testing.T) {
	d := newLiveDB(t)
	edges := map[auth.Mode]http.Handler{}
	for _, m := range []auth.Mode{auth.ModeOff, auth.ModeWrites, auth.ModeAll} {
		edges[m] = newEdge(t, d, Options{AuthMode: m}, nil)
	}
	w := setUpWorld(t, edges[auth.ModeWrites])
	if _, err := d.Exec(context.Background(), `UPDATE users SET role = 'admin' WHERE username = 'root'`); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, who := range []struct{ name, pass, role string }{{"alice", w.userPass, "user"}, {"root", w.adminPass, "admin"}} {
		c := &client{h: edges[auth.ModeWrites]}
		tr := c.signIn(t, who.name, who.pass)
		tokens[who.role] = tr.AccessToken
		rec := c.json("POST", "/api/auth/tokens", `{"name":"bot"}`)
		var created struct{ Token string }
		_ = json.Unmarshal(rec.Body.Bytes(), &created)
		tokens[who.role+"-token"] = created.Token
	}

	// Who may pass: "all" anyone; "signed" any principal; "user"/"admin"
	// by role; in the route table each mode maps to one of these.
	type rule map[auth.Mode]string // mode -> who
	open := rule{auth.ModeOff: "all", auth.ModeWrites: "all", auth.ModeAll: "all"}
	read := rule{auth.ModeOff: "all", auth.ModeWrites: "all", auth.ModeAll: "signed"}
	write := rule{auth.ModeOff: "all", auth.ModeWrites: "user", auth.ModeAll: "user"}
	adminByMode := rule{auth.ModeOff: "all", auth.ModeWrites: "admin", auth.ModeAll: "admin"}
	signed := rule{auth.ModeOff: "signed", auth.ModeWrites: "signed", auth.ModeAll: "signed"}
	admin := rule{auth.ModeOff: "admin", auth.ModeWrites: "admin", auth.ModeAll: "admin"}
	// Tokens are minted by people, not by other tokens.
	session := rule{auth.ModeOff: "session", auth.ModeWrites: "session", auth.ModeAll: "session"}
	content := rule{auth.ModeOff: "all", auth.ModeWrites: "signed", auth.ModeAll: "signed"}
	job := "00000000-0000-4000-8000-000000000000"
	routes := []struct {
		method, route, path, body string
		who                       rule
	}{
		{"GET", "/metrics", "/metrics", "", open},
		{"GET", "/api/health", "/api/health", "", open},
		{"GET", "/api/health/live", "/api/health/live", "", open},
		{"GET", "/api/health/healthz", "/api/health/healthz", "", open},
		{"GET", "/api/health/ready", "/api/health/ready", "", open},
		{"GET", "/api/health/readyz", "/api/health/readyz", "", open},
		{"GET", "/api/auth/config", "/api/auth/config", "", open},
		{"POST", "/api/auth/login", "/api/auth/login", "", open},
		{"POST", "/api/auth/register", "/api/auth/register", "{}", open},
		{"POST", "/api/auth/refresh", "/api/auth/refresh", "{}", open},
		{"GET", "/api/", "/api/", "", read},
		{"GET", "/api/status", "/api/status", "", read},
		{"GET", "/api/openapi.json", "/api/openapi.json", "", read},
		{"GET", "/api/jobs", "/api/jobs", "", read},
		{"GET", "/api/jobs/", "/api/jobs/", "", read},
		{"GET", "/api/jobs/{id}", "/api/jobs/" + job, "", read},
		{"GET", "/api/jobs/{id}/events", "/api/jobs/" + job + "/events", "", read},
		{"GET", "/api/summary/{job_id}", "/api/summary/" + job, "", read},
		{"GET", "/api/summary/{job_id}/report.{format}", "/api/summary/" + job + "/report.md", "", read},
		{"GET", "/api/tickets", "/api/tickets", "", read},
		{"GET", "/api/tickets/", "/api/tickets/", "", read},
		{"GET", "/api/tickets/settings/state", "/api/tickets/settings/state", "", read},
		{"GET", "/api/tickets/{job_id}", "/api/tickets/" + job, "", read},
		{"POST", "/api/jobs", "/api/jobs", "{}", write},
		{"POST", "/api/jobs/", "/api/jobs/", "{}", write},
		{"POST", "/api/jobs/{id}/cancel", "/api/jobs/" + job + "/cancel", "{}", write},
		{"POST", "/api/tickets", "/api/tickets", "{}", write},
		{"POST", "/api/tickets/", "/api/tickets/", "{}", write},
		{"POST", "/api/tickets/dispatch", "/api/tickets/dispatch", "{}", write},
		{"PUT", "/api/tickets/settings/state", "/api/tickets/settings/state", `{"bogus":1}`, adminByMode},
		{"POST", "/api/jobs/{id}/start", "/api/jobs/" + job + "/start", "", write},
		// Files: log content is private whatever AUTH_MODE says about
		// reads; only AUTH_MODE=off opens it.
		{"GET", "/api/files/supported-types", "/api/files/supported-types", "", read},
		{"POST", "/api/files/validate", "/api/files/validate", "{}", write},
		{"POST", "/api/files/upload", "/api/files/upload", "{}", write},
		{"GET", "/api/files/jobs/{job_id}", "/api/files/jobs/" + job, "", content},
		{"GET", "/api/files/{id}", "/api/files/" + job, "", content},
		{"GET", "/api/files/{id}/content", "/api/files/" + job + "/content", "", content},
		{"GET", "/api/files/{id}/lines", "/api/files/" + job + "/lines", "", content},
		{"POST", "/api/files/tus", "/api/files/tus", "", write},
		{"POST", "/api/files/tus/", "/api/files/tus/", "", write},
		{"OPTIONS", "/api/files/tus", "/api/files/tus", "", open},
		{"OPTIONS", "/api/files/tus/", "/api/files/tus/", "", open},
		{"HEAD", "/api/files/tus/{upload_id}", "/api/files/tus/abc", "", write},
		{"PATCH", "/api/files/tus/{upload_id}", "/api/files/tus/abc", "", write},
		{"DELETE", "/api/files/tus/{upload_id}", "/api/files/tus/abc", "", write},
		{"GET", "/api/auth/me", "/api/auth/me", "", signed},
		{"GET", "/api/auth/tokens", "/api/auth/tokens", "", signed},
		{"POST", "/api/auth/tokens", "/api/auth/tokens", "{}", session},
		{"DELETE", "/api/auth/tokens/{id}", "/api/auth/tokens/" + job, "", signed},
		{"GET", "/api/auth/users", "/api/auth/users", "", admin},
		{"PATCH", "/api/auth/users/{id}", "/api/auth/users/" + job, "{}", admin},
		// Logout needs a session of its own (checked in the flow test);
		// without any credential it is a 401 in every mode.
		{"POST", "/api/auth/logout", "/api/auth/logout", "", rule{}},
	}
	inTable := map[string]bool{}
	for _, r := range routes {
		inTable[r.method+" "+r.route] = true
	}
	_ = chi.Walk(edges[auth.ModeWrites].(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route != "/*" && !inTable[method+" "+route] {
			t.Errorf("route %s %s is not in the access table", method, route)
		}
		return nil
	})

	callers := []struct{ name, bearer, role string }{
		{"anonymous", "", ""},
		{"user", tokens["user"], "user"},
		{"admin", tokens["admin"], "admin"},
		{"user API token", tokens["user-token"], "user"},
		{"admin API token", tokens["admin-token"], "admin"},
	}
	for _, mode := range []auth.Mode{auth.ModeOff, auth.ModeWrites, auth.ModeAll} {
		for _, r := range routes {
			for _, caller := range callers {
				t.Run(string(mode)+" "+r.method+" "+r.path+" "+caller.name, func(t *testing.T) {
					if r.route == "/api/auth/logout" && caller.bearer != "" {
						return // it would end the session the other cases use
					}
					rec := (&client{h: edges[mode], bearer: caller.bearer}).json(r.method, r.path, r.body)
					allowed := false
					switch r.who[mode] {
					case "all":
						allowed = true
					case "signed":
						allowed = caller.role != ""
					case "user":
						allowed = caller.role != ""
					case "admin":
						allowed = caller.role == "admin"
					case "session":
						allowed = caller.role != "" && !strings.HasPrefix(caller.bearer, "rca_")
					}
					if r.route == "/api/auth/logout" {
						if caller.bearer == "" && rec.Code != 401 {
							t.Fatalf("anonymous logout = %d", rec.Code)
						}
						return
					}
					refused := rec.Code == 401 || rec.Code == 403
					if r.route == "/api/auth/register" || r.route == "/api/auth/login" || r.route == "/api/auth/refresh" {
						refused = rec.Code == 403 // their 401 means bad credentials, not access
					}
					if allowed == refused {
						t.Fatalf("%s in mode %s as %s = %d %s; allowed=%v", r.route, mode, caller.name, rec.Code, rec.Body, allowed)
					}
					if rec.Code >= 500 {
						t.Fatalf("server error %d %s", rec.Code, rec.Body)
					}
					if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
						t.Fatal("401 without WWW-Authenticate")
					}
				})
			}
		}
	}
}

func testRedisConn(t *testing.T) *redisconn.Conn {
	t.Helper()
	addr := pgtest.RequireRedis(t)
	rc, err := redisconn.New(redisconn.Config{URL: "redis://" + addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc.Start(ctx)
	t.Cleanup(func() { cancel(); rc.Close() })
	pgtest.Eventually(t, 5*time.Second, "redis up", func() bool { _, err := rc.Client(); return err == nil })
	return rc
}

// TestRateLimitsAreSharedByReplicas: two edges ("replicas") with their own
// Redis clients share one budget per client; a third edge without Redis
// still limits, per process.
func TestRateLimitsAreSharedByReplicas(t *testing.T) {
	d := newLiveDB(t)
	prefix := "test:" + rand.Text() + ":"
	lims := ratelimit.Classes{Read: ratelimit.Limit{Rate: 5, Period: time.Minute}}
	a := newEdge(t, d, Options{AuthMode: auth.ModeWrites, RateLimits: lims}, ratelimit.New(testRedisConn(t), ratelimit.Config{Prefix: prefix}))
	b := newEdge(t, d, Options{AuthMode: auth.ModeWrites, RateLimits: lims}, ratelimit.New(testRedisConn(t), ratelimit.Config{Prefix: prefix}))
	noRedis, _ := redisconn.New(redisconn.Config{})
	solo := newEdge(t, d, Options{AuthMode: auth.ModeWrites, RateLimits: lims}, ratelimit.New(noRedis, ratelimit.Config{}))

	me := "198.51.100.7:4242"
	for i, h := range []http.Handler{a, b, a, b, a} {
		rec := (&client{h: h, addr: me}).json("GET", "/api/jobs", "")
		if rec.Code != 200 {
			t.Fatalf("request %d = %d %s", i+1, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Fatalf("request %d: RateLimit-Remaining = %q, want %d (shared across replicas)", i+1, got, 4-i)
		}
		if rec.Header().Get("X-RateLimit-Limit") != "5" || rec.Header().Get("RateLimit-Policy") != "5;w=60" {
			t.Fatalf("headers %v", rec.Header())
		}
	}
	rec := (&client{h: b, addr: me}).json("GET", "/api/jobs", "")
	p := decodeProblem(t, rec)
	if rec.Code != 429 || p.Type != typeRateLimited || rec.Header().Get("Retry-After") == "" || !strings.Contains(p.Detail, "Try again in") {
		t.Fatalf("6th request = %d %s %v", rec.Code, rec.Body, rec.Header())
	}
	if reset, _ := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64); reset < time.Now().Unix() {
		t.Fatalf("X-RateLimit-Reset %d is not a future Unix time", reset)
	}
	// Another client is not affected; health is never limited.
	if rec := (&client{h: a, addr: "198.51.100.8:1"}).json("GET", "/api/jobs", ""); rec.Code != 200 {
		t.Fatalf("other client = %d", rec.Code)
	}
	if rec := (&client{h: a, addr: me}).json("GET", "/api/health/live", ""); rec.Code != 200 || rec.Header().Get("RateLimit-Limit") != "" {
		t.Fatalf("health = %d %v", rec.Code, rec.Header())
	}
	// Without Redis the limit still holds, per process.
	for i := 0; i < 5; i++ {
		(&client{h: solo, addr: me}).json("GET", "/api/jobs", "")
	}
	if rec := (&client{h: solo, addr: me}).json("GET", "/api/jobs", ""); rec.Code != 429 {
		t.Fatalf("fallback limiter let the 6th through: %d", rec.Code)
	}
}

func TestLoginBruteForceIsLimited(t *testing.T) {
	d := newLiveDB(t)
	lims := ratelimit.Classes{LoginAccount: ratelimit.Limit{Rate: 3, Period: 15 * time.Minute},
		LoginAddress: ratelimit.Limit{Rate: 6, Period: 15 * time.Minute}}
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites, RateLimits: lims},
		ratelimit.New(testRedisConn(t), ratelimit.Config{Prefix: "test:" + rand.Text() + ":"}))
	w := setUpWorld(t, h)
	attacker := &client{h: h, addr: "203.0.113.5:1000"}
	for i := 0; i < 3; i++ {
		if rec := attacker.login("alice", "guess"+strconv.Itoa(i)); rec.Code != 401 {
			t.Fatalf("guess %d = %d", i, rec.Code)
		}
	}
	// The account is now locked for a while, even with the right password,
	// so that guessing cannot continue; the answer says how long.
	rec := attacker.login("ALICE", w.userPass)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(decodeProblem(t, rec).Detail, "this account") {
		t.Fatalf("4th attempt = %d %s", rec.Code, rec.Body)
	}
	// Typing the account's email instead of its name gains nothing.
	if rec := attacker.login("alice@EXAMPLE.com", w.userPass); rec.Code != 429 {
		t.Fatalf("the email form of a locked account = %d %s", rec.Code, rec.Body)
	}
	// Another account from the same address still works, until the
	// address's own limit (6 attempts) is spent.
	if rec := attacker.login("root", w.adminPass); rec.Code != 200 {
		t.Fatalf("other account = %d %s", rec.Code, rec.Body)
	}
	for i := 0; i < 3; i++ {
		attacker.login("nobody"+strconv.Itoa(i), "x")
	}
	if rec := attacker.login("root", w.adminPass); rec.Code != 429 || !strings.Contains(decodeProblem(t, rec).Detail, "this address") {
		t.Fatalf("after 6 failures from one address = %d %s", rec.Code, rec.Body)
	}
	// A success clears the account's failures.
	user := &client{h: h, addr: "192.0.2.1:1"}
	user.login("root", "typo")
	user.login("root", "typo")
	user.signIn(t, "root", w.adminPass)
	for i := 0; i < 2; i++ {
		user.login("root", "typo")
	}
	if rec := user.login("root", w.adminPass); rec.Code != 200 {
		t.Fatalf("failures before a success still counted: %d %s", rec.Code, rec.Body)
	}
}

// TestParallelGuessesAreCharged: attempts are charged before the password
// is hashed, so a burst of guesses sent together gets no more through than
// the limit.
func TestParallelGuessesAreCharged(t *testing.T) {
	d := newLiveDB(t)
	lims := ratelimit.Classes{LoginAccount: ratelimit.Limit{Rate: 3, Period: 15 * time.Minute}}
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites, RateLimits: lims},
		ratelimit.New(testRedisConn(t), ratelimit.Config{Prefix: "test:" + rand.Text() + ":"}))
	setUpWorld(t, h)
	codes := make(chan int, 40)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			codes <- (&client{h: h, addr: fmt.Sprintf("203.0.113.%d:1", i)}).login("alice", "guess"+strconv.Itoa(i)).Code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] > 3 || count[429] < 37 {
		t.Fatalf("answers %v: more than 3 guesses were checked", count)
	}
}

// TestMultipartSignInLeavesNoFiles: file parts of a multipart sign-in are
// spooled to disk by the form parser and must be removed.
func TestMultipartSignInLeavesNoFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	d := newLiveDB(t)
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites, MaxBodyBytes: 1 << 20}, nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("username", "nobody")
	_ = mw.WriteField("password", "x")
	fw, _ := mw.CreateFormFile("junk", "junk.bin")
	fw.Write(bytes.Repeat([]byte("x"), 200<<10))
	mw.Close()
	req := httptest.NewRequest("POST", "/api/auth/login", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.ContentLength = int64(buf.Len())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("%d temporary files left behind", len(left))
	}
}

func TestClientAddress(t *testing.T) {
	s := &server{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "198.51.100.1:5", nil, "198.51.100.1"},
		{"untrusted peer cannot claim an address", "198.51.100.1:5", []string{"1.2.3.4"}, "198.51.100.1"},
		{"trusted proxy", "10.0.0.2:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left part is ignored", "10.0.0.2:5", []string{"1.1.1.1, 203.0.113.9, 10.0.0.7"}, "203.0.113.9"},
		{"several headers", "10.0.0.2:5", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", "10.0.0.2:5", []string{"203.0.113.9, junk"}, "10.0.0.2"},
		{"ipv6 loopback proxy", "[::1]:5", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped ipv4 peer", "[::ffff:198.51.100.1]:5", nil, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var got netip.Addr
			s.clientAddress(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientAddr(r.Context()) })).
				ServeHTTP(httptest.NewRecorder(), req)
			if got.String() != tt.want {
				t.Fatalf("client address = %s, want %s", got, tt.want)
			}
		})
	}
	if k := addrKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); k != "2001:db8:1:2::/64" {
		t.Fatalf("IPv6 clients are limited per /64, got key %s", k)
	}
}

func TestBearerHeader(t *testing.T) {
	tests := []struct {
		header, token string
		present, ok   bool
	}{
		{"", "", false, true},
		{"Bearer abc.def.ghi", "abc.def.ghi", true, true},
		{"bearer rca_XYZ", "rca_XYZ", true, true},
		{"Bearer  padded ", "padded", true, true},
		{"Basic dXNlcjpwYXNz", "", true, false},
		{"Bearer", "", true, false},
		{"Bearer two words", "", true, false},
		{"Bearer caf\u00e9", "", true, false},
		{"Bearer " + strings.Repeat("a", 5000), "", true, false},
	}
	for _, tt := range tests {
		token, present, ok := bearer(tt.header)
		if token != tt.token || present != tt.present || ok != tt.ok {
			t.Errorf("bearer(%.30q) = %q %v %v, want %q %v %v", tt.header, token, present, ok, tt.token, tt.present, tt.ok)
		}
	}
}

// FuzzBearer: whatever the header, the parser does not panic and only
// accepts a single printable token.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer x", "bearer  y ", "Basic z", "Bearer \x00", "Bearer a b", "BEARER rca_1",
		// The scheme in other cases, and two credentials as a proxy joins two header lines.
		"bEaReR x", "Bearer x, Bearer y", "Bearer x,Bearer y", "Bearer x,y", "Bearer x,", "Bearer\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		token, present, ok := bearer(h)
		if ok && present && (token == "" || strings.ContainsAny(token, " \t\r\n") || len(token) > 4096) {
			t.Fatalf("accepted %q from %q", token, h)
		}
		if !present && (h != "" || !ok) {
			t.Fatalf("absent for %q", h)
		}
	})
}

// FuzzLoginForm sends arbitrary bodies (as urlencoded and as multipart)
// to the sign-in route against a real database: the answer is 200, 401,
// 4xx with a problem, never a 500 or a panic.
func FuzzLoginForm(f *testing.F) {
	for _, s := range []string{"username=a&password=b", "username=a%00&password=b", "username=%ff&password=", "grant_type=x",
		"username=a&username=b&password=c", strings.Repeat("a=b&", 100), "%zz", "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nu\r\n--x--\r\n",
		// Repeated fields and names in another case (form names are exact: "Username" is not username).
		"username=a&password=b&password=c", "Username=a&password=b", "username=a&PASSWORD=b", "username=a&password=b&grant_type=password&grant_type=x",
		"--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nu\r\n--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nv\r\n--x--\r\n"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	d := newLiveDB(f)
	h := newEdge(f, d, Options{AuthMode: auth.ModeWrites}, nil)
	f.Fuzz(func(t *testing.T, body string, multi bool) {
		req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(body))
		if multi {
			req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code == 200 {
			t.Fatalf("%q (multipart %v) = %d %s", body, multi, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%q = %d without a problem document", body, rec.Code)
		}
	})
}

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	s := &server{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	h := s.securityHeaders(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tests := []struct {
		name, remote, proto string
		want                bool
	}{
		{"plain HTTP", "198.51.100.1:1", "", false},
		{"untrusted peer claiming HTTPS", "198.51.100.1:1", "https", false},
		{"trusted proxy terminating TLS", "10.1.2.3:1", "https", true},
		{"trusted proxy over HTTP", "10.1.2.3:1", "http", false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		if tt.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Strict-Transport-Security") != ""; got != tt.want {
			t.Errorf("%s: HSTS sent = %v, want %v", tt.name, got, tt.want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: security headers missing: %v", tt.name, rec.Header())
		}
	}
}

// TestPrivateAnswersAreNotStored: every answer to a request that presents a
// credential carries Cache-Control: no-store, unless its route says how it
// may be cached (the OpenAPI document, the UI's files); an anonymous
// answer is left to its route.
func TestPrivateAnswersAreNotStored(t *testing.T) {
	d := newLiveDB(t)
	ui := fstest.MapFS{"index.html": {Data: []byte(`<!doctype html>`)}, "assets/app-1a2b.js": {Data: []byte(`1`)}}
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites, UI: ui}, nil)
	w := setUpWorld(t, h)
	if _, err := d.Exec(context.Background(), `UPDATE users SET role = 'admin' WHERE username = 'root'`); err != nil {
		t.Fatal(err)
	}
	user, admin, cookie := &client{h: h}, &client{h: h}, &client{h: h}
	user.signIn(t, "alice", w.userPass)
	admin.signIn(t, "root", w.adminPass)
	cookie.signIn(t, "alice", w.userPass)
	cookie.bearer = "" // it holds the refresh cookie only
	anon := &client{h: h}
	stale := &client{h: h, bearer: "not-a-token"}
	login := func(c *client) *httptest.ResponseRecorder { return c.login("alice", w.userPass) }
	tests := []struct {
		name string
		send func() *httptest.ResponseRecorder
		code int
		want string
	}{
		{"me", func() *httptest.ResponseRecorder { return user.json("GET", "/api/auth/me", "") }, 200, "no-store"},
		{"token list", func() *httptest.ResponseRecorder { return user.json("GET", "/api/auth/tokens", "") }, 200, "no-store"},
		{"user list", func() *httptest.ResponseRecorder { return admin.json("GET", "/api/auth/users", "") }, 200, "no-store"},
		{"token creation", func() *httptest.ResponseRecorder { return user.json("POST", "/api/auth/tokens", `{"name":"ci"}`) }, 201, "no-store"},
		{"a job list read with a token", func() *httptest.ResponseRecorder { return user.json("GET", "/api/jobs", "") }, 200, "no-store"},
		{"a refused token", func() *httptest.ResponseRecorder { return stale.json("GET", "/api/auth/me", "") }, 401, "no-store"},
		{"a stale token on a public read", func() *httptest.ResponseRecorder { return stale.json("GET", "/api/jobs", "") }, 200, "no-store"},
		{"login", func() *httptest.ResponseRecorder { return login(anon) }, 200, "no-store"},
		{"refresh with the cookie", func() *httptest.ResponseRecorder { return cookie.json("POST", "/api/auth/refresh", "") }, 200, "no-store"},
		{"the OpenAPI document keeps its own", func() *httptest.ResponseRecorder { return user.json("GET", "/api/openapi.json", "") }, 200,
			"public, max-age=300"},
		{"a hashed asset keeps its own", func() *httptest.ResponseRecorder { return user.json("GET", "/assets/app-1a2b.js", "") }, 200,
			"public, max-age=31536000, immutable"},
		{"the app's page keeps its own", func() *httptest.ResponseRecorder { return user.json("GET", "/jobs", "") }, 200, "no-cache"},
		{"an anonymous read", func() *httptest.ResponseRecorder { return anon.json("GET", "/api/jobs", "") }, 200, ""},
		{"an anonymous OpenAPI read", func() *httptest.ResponseRecorder { return anon.json("GET", "/api/openapi.json", "") }, 200,
			"public, max-age=300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.send()
			if rec.Code != tt.code || rec.Header().Get("Cache-Control") != tt.want {
				t.Fatalf("= %d, Cache-Control %q; want %d, %q", rec.Code, rec.Header().Get("Cache-Control"), tt.code, tt.want)
			}
		})
	}
}

// TestCrossSiteSignInIsRefused: a browser's sign-in or registration sent
// on another site's behalf (login CSRF) is a 403, told by Sec-Fetch-Site
// or, from browsers without it, by Origin; origins in the CORS allow-list,
// same-origin pages and clients that are not browsers sign in as before.
func TestCrossSiteSignInIsRefused(t *testing.T) {
	d := newLiveDB(t)
	allowed := []string{"http://localhost:3000", "https://*.example.org"}
	h := newEdge(t, d, Options{AuthMode: auth.ModeWrites, CORSOrigins: allowed}, nil)
	w := setUpWorld(t, h)
	const host = "rca.example.com" // the Host every request below is sent to
	tests := []struct {
		name, site, origin string
		ok                 bool
	}{
		{"not a browser", "", "", true},
		{"same origin", "same-origin", "https://" + host, true},
		{"typed by the user", "none", "", true},
		{"same site", "same-site", "https://other.example.com", false},
		{"same site without Origin", "same-site", "", false},
		{"cross site", "cross-site", "https://evil.example", false},
		{"cross site from an allowed origin", "cross-site", "http://localhost:3000", true},
		{"same site from an allowed origin", "same-site", "http://LOCALHOST:3000", true},
		{"cross site from an allowed wildcard origin", "cross-site", "https://app.example.org", true},
		{"the wildcard is not the bare domain", "cross-site", "https://example.org", false},
		{"old browser, this host", "", "https://" + host, true},
		{"old browser, this host with its default port", "", "http://" + host + ":80", true},
		{"old browser, another port", "", "http://" + host + ":8443", false},
		{"old browser, another site", "", "https://evil.example", false},
		{"old browser, an opaque origin", "", "null", false},
		{"old browser, an allowed origin", "", "http://localhost:3000", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := func(req *http.Request) {
				req.Host = host
				if tt.site != "" {
					req.Header.Set("Sec-Fetch-Site", tt.site)
				}
				if tt.origin != "" {
					req.Header.Set("Origin", tt.origin)
				}
			}
			form := url.Values{"username": {"alice"}, "password": {w.userPass}}
			req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			headers(req)
			login := (&client{h: h}).send(req)
			name := "user" + strconv.Itoa(i)
			req = httptest.NewRequest("POST", "/api/auth/register", strings.NewReader(
				`{"email":"`+name+`@example.com","username":"`+name+`","password":"a-good-password"}`))
			req.Header.Set("Content-Type", "application/json")
			headers(req)
			register := (&client{h: h}).send(req)
			for _, got := range []struct {
				route string
				rec   *httptest.ResponseRecorder
				want  int
			}{{"login", login, 200}, {"register", register, 201}} {
				if tt.ok && got.rec.Code != got.want {
					t.Errorf("%s = %d %s, want %d", got.route, got.rec.Code, got.rec.Body, got.want)
				}
				if !tt.ok {
					if p := decodeProblem(t, got.rec); got.rec.Code != 403 || p.Type != typeForbidden ||
						!strings.Contains(p.Detail, "Cross-site sign-in is refused") {
						t.Errorf("%s = %d %s, want a 403 refusing cross-site sign-in", got.route, got.rec.Code, got.rec.Body)
					}
					if got.rec.Header().Get("Set-Cookie") != "" {
						t.Errorf("%s: a refused sign-in set a cookie", got.route)
					}
				}
			}
			// The CORS handler agrees on which origins are allowed.
			if tt.origin != "" && tt.origin != "null" && !strings.Contains(tt.origin, host) {
				req := httptest.NewRequest("OPTIONS", "/api/auth/login", nil)
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Access-Control-Request-Method", "POST")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if got := rec.Header().Get("Access-Control-Allow-Origin") != ""; got != tt.ok {
					t.Errorf("CORS allows %s: %v, sign-in allows it: %v", tt.origin, got, tt.ok)
				}
			}
		})
	}
}

// newStreamEdge is newEdge with the event streams, in the given mode.
func newStreamEdge(t *testing.T, d *db.DB, mode auth.Mode) http.Handler {
	t.Helper()
	a, err := auth.New(d, auth.Config{Secret: testSecret, Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	log := eventlog.New(d)
	deps := dependency.Set{d.Tracker()}
	streams := sse.New(sse.Config{}, events.NewHub(), log, deps)
	t.Cleanup(streams.Shutdown)
	return NewHandler(Options{Version: "test", RequestTimeout: 5 * time.Second, MaxBodyBytes: 64 << 10, AuthMode: mode},
		Deps{Database: d, Dependencies: deps, Jobs: jobs.NewService(d, log, jobs.Policy{}), Events: log, Streams: streams,
			Idempotency: idempotency.New(d, time.Hour), Tickets: tickets.New(d, log, jobs.Policy{}, tickets.Defaults{}, tickets.Settings{}),
			Metrics: metrics.New(deps, d.Stat), Auth: a})
}

// TestStreamsRefuseBadCredentials: a stream request whose access_token or
// Authorization header is refused answers 401 with WWW-Authenticate in
// every mode, instead of streaming as anonymous; a valid credential opens
// the stream, and none opens it where reads are open.
func TestStreamsRefuseBadCredentials(t *testing.T) {
	d := newLiveDB(t)
	setup := newEdge(t, d, Options{AuthMode: auth.ModeWrites}, nil)
	w := setUpWorld(t, setup)
	user := &client{h: setup}
	valid := user.signIn(t, "alice", w.userPass).AccessToken
	ended := (&client{h: setup}).signIn(t, "alice", w.userPass).AccessToken
	if rec := (&client{h: setup, bearer: ended}).json("POST", "/api/auth/logout", ""); rec.Code != 200 {
		t.Fatalf("logout = %d %s", rec.Code, rec.Body)
	}
	var created struct{ Token string }
	_ = json.Unmarshal(user.json("POST", "/api/auth/tokens", `{"name":"bot"}`).Body.Bytes(), &created)
	var job struct{ ID string }
	_ = json.Unmarshal(user.json("POST", "/api/jobs", `{"job_type":"stream"}`).Body.Bytes(), &job)
	if created.Token == "" || job.ID == "" {
		t.Fatal("set-up failed")
	}

	type cred struct{ query, header string }
	credentials := []struct {
		name string
		cred
		valid bool // false: refused
	}{
		{"a valid access_token", cred{query: valid}, true},
		{"a valid API token", cred{query: created.Token}, true},
		{"a valid Authorization header", cred{header: "Bearer " + valid}, true},
		{"an invalid access_token", cred{query: "not-a-token"}, false},
		{"an empty access_token", cred{query: " "}, false},
		{"a signed-out access_token", cred{query: ended}, false},
		{"an unknown API token", cred{query: "rca_" + strings.Repeat("x", 40)}, false},
		{"an invalid Authorization header", cred{header: "Bearer not-a-token"}, false},
		{"a malformed Authorization header", cred{header: "Basic dXNlcjpwYXNz"}, false},
	}
	paths := []string{"/api/sse/events", "/api/sse/jobs/" + job.ID, "/api/jobs/" + job.ID + "/stream"}
	for _, mode := range []auth.Mode{auth.ModeOff, auth.ModeWrites, auth.ModeAll} {
		srv := httptest.NewServer(newStreamEdge(t, d, mode))
		t.Cleanup(srv.Close)
		open := func(t *testing.T, path string, c cred) (int, http.Header, Problem) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := srv.URL + path
			if c.query != "" {
				u += "?access_token=" + url.QueryEscape(c.query)
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p Problem
			if resp.StatusCode != 200 {
				_ = json.NewDecoder(resp.Body).Decode(&p)
			}
			return resp.StatusCode, resp.Header, p
		}
		for _, path := range paths {
			t.Run(string(mode)+" "+path+" without a credential", func(t *testing.T) {
				want := 200
				if mode == auth.ModeAll {
					want = 401
				}
				if code, _, p := open(t, path, cred{}); code != want {
					t.Fatalf("= %d %+v, want %d", code, p, want)
				}
			})
			for _, c := range credentials {
				t.Run(string(mode)+" "+path+" with "+c.name, func(t *testing.T) {
					code, h, p := open(t, path, c.cred)
					if c.valid {
						if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") ||
							h.Get("Cache-Control") != "no-cache, no-transform" {
							t.Fatalf("= %d %v %+v, want the stream with its own Cache-Control", code, h, p)
						}
						return
					}
					if code != 401 || p.Type != typeUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) ||
						h.Get("Cache-Control") != "no-store" {
						t.Fatalf("= %d %v %+v, want a 401 problem with WWW-Authenticate", code, h, p)
					}
				})
			}
		}
	}
}
