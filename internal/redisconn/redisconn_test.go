package redisconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/pgtest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestGoRedisLogsThroughSlog: with the Logger installed, a line go-redis
// writes about a real command (it rounds a sub-millisecond expiry up to
// 1 ms, and says so) reaches the structured log as a warning, with the
// dependency named, instead of stderr.
func TestGoRedisLogsThroughSlog(t *testing.T) {
	addr := pgtest.RequireRedis(t)
	var buf lockedBuffer
	redis.SetLogger(NewLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	t.Cleanup(logging.Enable) // go-redis's own default again

	c, err := New(Config{URL: "redis://" + addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	t.Cleanup(func() { cancel(); c.Close() })
	pgtest.Eventually(t, 5*time.Second, "redis up", func() bool { return c.Tracker().Get().Status == dependency.Up })
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	key := "test:redisconn:" + rand.Text()
	if err := client.Set(context.Background(), key, "v", 500*time.Microsecond).Err(); err != nil {
		t.Fatal(err)
	}

	var got map[string]any
	for _, line := range buf.lines() {
		if d, _ := line["detail"].(string); strings.Contains(d, "truncating to 1ms") {
			got = line
		}
	}
	if got == nil || got["level"] != "WARN" || got["msg"] != "go-redis" || got["dependency"] != "redis" {
		t.Fatalf("the structured log has %v", buf.lines())
	}
}

func TestLoggerFormats(t *testing.T) {
	tests := []struct {
		name   string
		level  slog.Level
		format string
		args   []any
		want   string // the detail, or "" for no line
	}{
		{"formatted and trimmed", slog.LevelInfo, "pool: closed %d connections\n", []any{3}, "pool: closed 3 connections"},
		{"below the logger's level", slog.LevelError, "pool: closed %d connections", []any{3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf lockedBuffer
			NewLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))).
				Printf(context.Background(), tt.format, tt.args...)
			lines := buf.lines()
			switch {
			case tt.want == "" && len(lines) != 0:
				t.Fatalf("logged %v, want nothing", lines)
			case tt.want != "" && (len(lines) != 1 || lines[0]["detail"] != tt.want):
				t.Fatalf("logged %v, want detail %q", lines, tt.want)
			}
		})
	}
}
