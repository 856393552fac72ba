package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rca-engine/api/internal/dependency"
)

func TestIsConnError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no rows", pgx.ErrNoRows, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"plain error", errors.New("boom"), false},
		{"canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsConnError(tt.err); got != tt.want {
				t.Errorf("IsConnError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want dependency.Cause
	}{
		{"bad password", &pgconn.PgError{Code: "28P01"}, dependency.CauseAuthFailed},
		{"unknown role", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "28000"}), dependency.CauseAuthFailed},
		{"missing database", &pgconn.PgError{Code: "3D000"}, dependency.CauseDatabaseMissing},
		{"deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), dependency.CauseTimeout},
		{"refused", syscall.ECONNREFUSED, dependency.CauseUnreachable},
		{"migration", &migrationError{errors.New("syntax")}, dependency.CauseMigrationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyFailure(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestConnStringKeys(t *testing.T) {
	tests := []struct {
		conn string
		key  string
		want bool
	}{
		{"postgres://u@h/db?pool_max_conn_idle_time=10s&sslmode=disable", "pool_max_conn_idle_time", true},
		{"postgresql://u@h/db?connect_timeout=3", "connect_timeout", true},
		{"postgres://u@h/db", "connect_timeout", false},
		{"host=h user=u connect_timeout=3 pool_health_check_period=5s", "pool_health_check_period", true},
		{"host=h user=u", "connect_timeout", false},
	}
	for _, tt := range tests {
		if got := connStringKeys(tt.conn)[tt.key]; got != tt.want {
			t.Errorf("connStringKeys(%q)[%s] = %v, want %v", tt.conn, tt.key, got, tt.want)
		}
	}
}

// The operator's connection string wins over this package's defaults, and
// its explicit settings over both.
func TestPoolSettingsPrecedence(t *testing.T) {
	d, err := New(Config{URL: "postgres://u@127.0.0.1:1/db?pool_max_conn_idle_time=7s&connect_timeout=3"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pc := d.pool.Config()
	if pc.MaxConnIdleTime.Seconds() != 7 || pc.ConnConfig.ConnectTimeout.Seconds() != 3 {
		t.Errorf("URL values lost: idle %s connect %s", pc.MaxConnIdleTime, pc.ConnConfig.ConnectTimeout)
	}
	if pc.HealthCheckPeriod.Seconds() != 10 || pc.PingTimeout.Seconds() != 1 {
		t.Errorf("defaults not applied: health %s ping %s", pc.HealthCheckPeriod, pc.PingTimeout)
	}
	d2, err := New(Config{URL: "postgres://u@127.0.0.1:1/db?pool_max_conn_idle_time=7s", MaxConnIdleTime: 20e9})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got := d2.pool.Config().MaxConnIdleTime.Seconds(); got != 20 {
		t.Errorf("explicit setting lost: idle %vs", got)
	}
}

func TestMalformedURLDoesNotEchoThePassword(t *testing.T) {
	_, err := New(Config{URL: "postgres://user:hunter2@host:notaport/db"})
	if err == nil {
		t.Fatal("malformed URL accepted")
	}
	if msg := err.Error(); !contains(msg, "DATABASE_URL") || contains(msg, "hunter2") {
		t.Errorf("error = %q", msg)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
