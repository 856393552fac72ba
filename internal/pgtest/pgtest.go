// Package pgtest gives each test its own PostgreSQL database on the real
// server the test suite runs against, and checks that Redis is there. A test
// that cannot reach a server fails with a message that says which and how to
// start it; it never skips silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the maintenance connection used to create and drop test
// databases: TEST_DATABASE_URL, or the local server with trust auth.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisAddr is TEST_REDIS_ADDR or the local server.
func RedisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// NewDatabase creates an empty database for t and drops it when t ends. It
// returns the database's URL and the host:port of its server, so that
// fault tests can put a proxy in front of it.
func NewDatabase(t testing.TB) (dbURL, hostPort string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL at %s (set TEST_DATABASE_URL, or start it with "+
			"'pg_ctlcluster --skip-systemctl-redirect 15 main start'): %v", redact(AdminURL()), err)
	}
	defer admin.Close(context.Background())
	name := "rca_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: TEST_DATABASE_URL must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String(), u.Host
}

// WithHost returns dbURL with its host:port replaced, to route it through a
// proxy.
func WithHost(t testing.TB, dbURL, hostPort string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostPort
	return u.String()
}

// WithParams returns dbURL with extra query parameters.
func WithParams(t testing.TB, dbURL string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RequireRedis fails t unless Redis answers at RedisAddr, and returns the
// address.
func RequireRedis(t testing.TB) string {
	t.Helper()
	addr := RedisAddr()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("pgtest: cannot reach Redis at %s (set TEST_REDIS_ADDR, or start it with "+
			"'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no'): %v", addr, err)
	}
	c.Close()
	return addr
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Exec runs a statement on dbURL with a direct connection, outside the
// code under test.
func Exec(t testing.TB, dbURL string, sql string, args ...any) {
	t.Helper()
	withConn(t, dbURL, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}, sql)
}

// QueryInt returns the single integer a query selects.
func QueryInt(t testing.TB, dbURL string, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	withConn(t, dbURL, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql, args...).Scan(&n)
	}, sql)
	return n
}

func withConn(t testing.TB, dbURL string, fn func(context.Context, *pgx.Conn) error, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(context.Background())
	if err := fn(ctx, conn); err != nil {
		t.Fatalf("pgtest: %s: %v", what, err)
	}
}

// Eventually polls cond every 20ms until it holds or timeout passes. The
// timeout is a "does not hang" bound, not a performance claim.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
