package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/pgtest"
)

// secureEnv is fastEnv with the security defaults left alone (AUTH_MODE
// writes, rate limits on, in Redis) and a first admin.
func secureEnv(t *testing.T) (map[string]string, string) {
	env := fastEnv("")
	dbURL, _ := pgtest.NewDatabase(t)
	env["DATABASE_URL"] = dbURL
	delete(env, "AUTH_MODE")
	delete(env, "RATE_LIMITING_ENABLED")
	env["REDIS_URL"] = "redis://" + pgtest.RequireRedis(t) + "/0"
	env["JWT_SECRET_KEY"] = rand.Text() + rand.Text()
	// Sign-in limits live in the shared Redis, keyed by the name typed and
	// by address: a name of its own keeps this test's attempts from
	// spending another's, and the address limit (every test signs in from
	// 127.0.0.1) is raised for the suite; internal/api tests it as it is.
	name := "admin-" + strings.ToLower(rand.Text()[:8])
	env["ADMIN_EMAIL"] = name + "@example.com"
	env["ADMIN_USERNAME"] = name
	env["ADMIN_PASSWORD"] = "first-admin-" + rand.Text()
	env["RATE_LIMIT_LOGIN_ADDRESS"] = "10000/15m"
	return env, dbURL
}

// waitForAdmin waits until the first admin exists. Signing in before it
// does would spend the account's sign-in attempts (10 per 15 minutes) on a
// loaded machine, where hashing its password takes a while.
func waitForAdmin(t *testing.T, dbURL string) {
	t.Helper()
	pgtest.Eventually(t, 30*time.Second, "the first admin exists", func() bool {
		return pgtest.QueryInt(t, dbURL, `SELECT count(*) FROM pg_tables WHERE tablename = 'users'`) == 1 &&
			pgtest.QueryInt(t, dbURL, `SELECT count(*) FROM users WHERE role = 'admin'`) == 1
	})
}

func (s *service) login(t *testing.T, username, password string) response {
	t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	return s.send(t, "POST", "/api/auth/login", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

func TestDefaultsProtectWritesAndSecrets(t *testing.T) {
	env, dbURL := secureEnv(t)
	svc := startService(t, env)
	waitForAdmin(t, dbURL)
	pgtest.Eventually(t, 10*time.Second, "first admin can sign in", func() bool {
		return svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).status == 200
	})

	if r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "rca"}, nil); r.status != 401 ||
		!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("anonymous write = %d %s", r.status, r.body)
	}
	r := svc.get(t, "/api/jobs")
	if r.status != 200 || r.header.Get("RateLimit-Limit") != "600" || r.header.Get("X-RateLimit-Remaining") == "" {
		t.Fatalf("anonymous read = %d %v", r.status, r.header)
	}
	cfg := svc.get(t, "/api/auth/config").json(t)
	if cfg["mode"] != "writes" || cfg["registration"] != "open" {
		t.Fatalf("auth config %v", cfg)
	}

	login := svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).json(t)
	admin := map[string]string{"Authorization": "Bearer " + login["access_token"].(string)}
	if r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "rca"}, admin); r.status != 201 {
		t.Fatalf("admin write = %d %s", r.status, r.body)
	}
	if r := svc.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"jira_enabled":true}`), admin); r.status != 200 {
		t.Fatalf("admin settings = %d %s", r.status, r.body)
	}
	if r := svc.postJSON(t, "/api/auth/register", map[string]any{"email": "u@example.com", "username": "user1", "password": "user-password"}, nil); r.status != 201 {
		t.Fatalf("register = %d %s", r.status, r.body)
	}
	userLogin := svc.login(t, "user1", "user-password").json(t)
	user := map[string]string{"Authorization": "Bearer " + userLogin["access_token"].(string)}
	if r := svc.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"jira_enabled":false}`), user); r.status != 403 {
		t.Fatalf("user changing integrations = %d %s", r.status, r.body)
	}

	// Nothing secret reaches the logs.
	logs := svc.logs.String()
	for name, secret := range map[string]string{"admin password": env["ADMIN_PASSWORD"], "JWT secret": env["JWT_SECRET_KEY"],
		"access token": login["access_token"].(string), "refresh token": login["refresh_token"].(string), "user password": "user-password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

func TestModeAllGuardsReadsAndStreams(t *testing.T) {
	env, dbURL := secureEnv(t)
	env["AUTH_MODE"] = "all"
	env["AUTH_STREAM_RECHECK"] = "200ms"
	svc := startService(t, env)
	waitForAdmin(t, dbURL)
	pgtest.Eventually(t, 10*time.Second, "first admin can sign in", func() bool {
		return svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).status == 200
	})
	if r := svc.get(t, "/api/jobs"); r.status != 401 {
		t.Fatalf("anonymous read in mode all = %d", r.status)
	}
	if r := svc.get(t, "/api/health/live"); r.status != 200 {
		t.Fatalf("health in mode all = %d", r.status)
	}
	if s := openStream(t, svc.base+"/api/sse/events", ""); s.status != 401 {
		t.Fatalf("anonymous stream = %d", s.status)
	}
	token := svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"]).json(t)["access_token"].(string)
	// EventSource cannot send headers: streams take the token as a query
	// parameter.
	s := openStream(t, svc.base+"/api/sse/events?access_token="+url.QueryEscape(token), "")
	if s.status != 200 || !strings.HasPrefix(s.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream with token = %d %v", s.status, s.header)
	}
	if r := svc.get(t, "/api/jobs?access_token="+url.QueryEscape(token)); r.status != 401 {
		t.Fatalf("a query token must only open streams, got %d on /api/jobs", r.status)
	}
	if strings.Contains(svc.logs.String(), token) {
		t.Error("the logs contain the access token")
	}

	// Signing out ends the open stream too, within the recheck interval.
	if r := svc.send(t, "POST", "/api/auth/logout", "", nil, map[string]string{"Authorization": "Bearer " + token}); r.status != 200 {
		t.Fatalf("logout = %d %s", r.status, r.body)
	}
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its sign-in by 10 s (recheck every 200ms)")
	}
}

func TestProductionNeedsAJWTSecret(t *testing.T) {
	env := fastEnv("postgres://nobody@127.0.0.1:1/none")
	env["ENVIRONMENT"] = "production"
	err := run(context.Background(), func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, &syncBuffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET_KEY") {
		t.Fatalf("run = %v, want a refusal naming JWT_SECRET_KEY", err)
	}
	env["JWT_SECRET_KEY"] = "too-short-a-secret"
	err = run(context.Background(), func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, &syncBuffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "at least 32") || strings.Contains(err.Error(), "too-short-a-secret") {
		t.Fatalf("run = %v, want a refusal that does not echo the secret", err)
	}
}

func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	env := fastEnv("postgres://nobody@127.0.0.1:1/none")
	env["TLS_CERT_FILE"], env["TLS_KEY_FILE"] = certFile, keyFile
	svc := startService(t, env)
	base := strings.Replace(svc.base, "http://", "https://", 1)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(base + "/api/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") || resp.TLS == nil {
		t.Fatalf("https = %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if r, err := http.Get(svc.base + "/api/health/live"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestHealthSaysLessToStrangers: a dependency's raw error names the
// database's user, host, port and name; anyone may read /api/health, so
// only admins get it (the logs always have it).
func TestHealthSaysLessToStrangers(t *testing.T) {
	t.Run("redis down: an admin sees the error, a stranger the cause", func(t *testing.T) {
		env, dbURL := secureEnv(t)
		env["REDIS_URL"] = "redis://127.0.0.1:1/0" // nothing listens there
		svc := startService(t, env)
		waitForAdmin(t, dbURL)
		var token string
		pgtest.Eventually(t, 10*time.Second, "first admin can sign in", func() bool {
			r := svc.login(t, env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"])
			token, _ = r.json(t)["access_token"].(string)
			return r.status == 200
		})
		redisCheck := func(header map[string]string) map[string]any {
			r := svc.do(t, "GET", "/api/health", header)
			checks, _ := r.json(t)["checks"].(map[string]any)
			list, _ := checks["redis"].([]any)
			if len(list) != 1 {
				t.Fatalf("no redis check in %s", r.body)
			}
			return list[0].(map[string]any)
		}
		var anon map[string]any
		pgtest.Eventually(t, 10*time.Second, "redis reported unreachable", func() bool {
			anon = redisCheck(nil)
			return anon["cause"] == "unreachable"
		})
		if out, _ := anon["output"].(string); strings.Contains(out, "127.0.0.1") || strings.Contains(out, "connection refused") ||
			anon["cause"] != "unreachable" {
			t.Errorf("a stranger's redis check = %v", anon)
		}
		admin := redisCheck(map[string]string{"Authorization": "Bearer " + token})
		if out, _ := admin["output"].(string); !strings.Contains(out, "refused") {
			t.Errorf("the admin's redis check lacks the error: %v", admin)
		}
		// A bad credential is no admin: the stranger's answer, not a 401.
		if bad := redisCheck(map[string]string{"Authorization": "Bearer not-a-token"}); bad["output"] != anon["output"] {
			t.Errorf("a bad credential got %v", bad)
		}
	})
	t.Run("database missing: the command is in the logs, not in the report", func(t *testing.T) {
		env := fastEnv(strings.Replace(pgtest.AdminURL(), "/postgres?", "/rca_never_created?", 1))
		env["DB_CREATE_DATABASE"] = "false"
		svc := startService(t, env)
		var out string
		pgtest.Eventually(t, 10*time.Second, "database_missing reported", func() bool {
			r := svc.get(t, "/api/health")
			checks, _ := r.json(t)["checks"].(map[string]any)
			list, _ := checks["postgres"].([]any)
			if len(list) != 1 {
				return false
			}
			c := list[0].(map[string]any)
			out, _ = c["output"].(string)
			return c["cause"] == "database_missing"
		})
		if strings.Contains(out, "createdb") || strings.Contains(out, "rca_never_created") || strings.Contains(out, "postgres") {
			t.Errorf("a stranger's postgres check says %q", out)
		}
		if !strings.Contains(svc.logs.String(), "createdb") {
			t.Errorf("the logs do not give the createdb command:\n%s", svc.logs.String())
		}
	})
}

// TestTheOriginalFrontendWorksOutOfTheBox is what the original Next.js UI
// (served on localhost:3000) does against a local API with no settings:
// a preflight for its Bearer-carrying calls, and a sign-in from its page.
func TestTheOriginalFrontendWorksOutOfTheBox(t *testing.T) {
	env, dbURL := secureEnv(t)
	env["ENVIRONMENT"] = "development"
	svc := startService(t, env)
	waitForAdmin(t, dbURL)
	const origin = "http://localhost:3000"
	pre := svc.do(t, "OPTIONS", "/api/jobs", map[string]string{"Origin": origin,
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if pre.status >= 300 || pre.header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(strings.ToLower(pre.header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from %s = %d %v", origin, pre.status, pre.header)
	}
	// Its login form, as the browser sends it from the page on :3000
	// (another origin, the same site).
	form := url.Values{"username": {env["ADMIN_USERNAME"]}, "password": {env["ADMIN_PASSWORD"]}}
	r := svc.send(t, "POST", "/api/auth/login", "application/x-www-form-urlencoded", []byte(form.Encode()),
		map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-site"})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("sign-in from %s = %d %v %s", origin, r.status, r.header, r.body)
	}
	token, _ := r.json(t)["access_token"].(string)
	if r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "rca_analysis", "user_id": "anonymous",
		"input_manifest": map[string]any{}}, map[string]string{"Origin": origin, "Authorization": "Bearer " + token}); r.status != 201 ||
		r.header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("create a job from %s = %d %s", origin, r.status, r.body)
	}
	// The same sign-in from a site nobody listed is refused.
	if r := svc.send(t, "POST", "/api/auth/login", "application/x-www-form-urlencoded", []byte(form.Encode()),
		map[string]string{"Origin": "https://evil.example.com", "Sec-Fetch-Site": "cross-site"}); r.status != 403 {
		t.Fatalf("cross-site sign-in = %d %s", r.status, r.body)
	}
}
