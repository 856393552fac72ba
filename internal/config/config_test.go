package config

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func lookup(env map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Load(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8001 || c.DB.URL != DefaultDatabaseURL || c.Redis.URL != "" || !c.MigrateEnabled() ||
		c.MaxBodyBytes != 1<<20 || !c.ReadinessRequiresDB || c.LogFormat != "text" || c.LogLevel != slog.LevelInfo {
		t.Errorf("defaults = %+v", c)
	}
	if c.DB.TCPUserTimeout != 0 || c.DB.ReadRetries != 0 {
		t.Errorf("unset DB tunables must stay zero (the db package's defaults apply): %+v", c.DB)
	}
}

func TestValues(t *testing.T) {
	c, err := Load(lookup(map[string]string{
		"PORT":                        " 9000 ",
		"ENVIRONMENT":                 "Production",
		"DB_QUERY_TIMEOUT":            "1500ms",
		"DB_ACQUIRE_TIMEOUT":          "3",
		"DB_TCP_USER_TIMEOUT":         "0",
		"DB_READ_RETRIES":             "0",
		"DB_MIGRATE":                  "false",
		"CORS_ALLOWED_ORIGINS":        `["https://a.example.com/", "http://localhost:5173"]`,
		"READINESS_REQUIRES_DATABASE": "false",
		"LOG_LEVEL":                   "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9000 || c.Environment != "production" || c.LogFormat != "json" || c.LogLevel != slog.LevelDebug {
		t.Errorf("got %+v", c)
	}
	if c.DB.QueryTimeout != 1500*time.Millisecond || c.DB.AcquireTimeout != 3*time.Second {
		t.Errorf("durations: %s %s", c.DB.QueryTimeout, c.DB.AcquireTimeout)
	}
	if c.DB.TCPUserTimeout >= 0 || c.DB.ReadRetries >= 0 {
		t.Errorf("0 must disable (negative for the db package): %s %d", c.DB.TCPUserTimeout, c.DB.ReadRetries)
	}
	if c.MigrateEnabled() || c.ReadinessRequiresDB {
		t.Errorf("booleans not read")
	}
	if !slices.Equal(c.CORSOrigins, []string{"https://a.example.com", "http://localhost:5173"}) {
		t.Errorf("origins = %v", c.CORSOrigins)
	}
}

func TestCommaSeparatedOrigins(t *testing.T) {
	c, err := Load(lookup(map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example.com, https://b.example.com"}))
	if err != nil || len(c.CORSOrigins) != 2 {
		t.Errorf("origins = %v, err %v", c.CORSOrigins, err)
	}
}

func TestEveryBadValueIsNamed(t *testing.T) {
	bad := map[string]string{
		"PORT":                 "70000",
		"ENVIRONMENT":          "staging",
		"LOG_LEVEL":            "loud",
		"DB_QUERY_TIMEOUT":     "soon",
		"DB_CONNECT_TIMEOUT":   "-1s",
		"DB_READ_RETRIES":      "many",
		"DB_MIGRATE":           "perhaps",
		"REDIS_URL":            "http://localhost:6379",
		"CORS_ALLOWED_ORIGINS": "*",
		"HTTP_MAX_BODY_BYTES":  "0",
	}
	_, err := Load(lookup(bad))
	if err == nil {
		t.Fatal("no error")
	}
	for key := range bad {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestOriginsMustBeOrigins(t *testing.T) {
	for _, v := range []string{"example.com", "https://a.example.com/path", "ftp://a.example.com", `["unterminated"`} {
		if _, err := Load(lookup(map[string]string{"CORS_ALLOWED_ORIGINS": v})); err == nil {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q accepted", v)
		}
	}
}

func TestVarsListsEverythingLoadReads(t *testing.T) {
	var read []string
	_, _ = Load(func(k string) (string, bool) { read = append(read, k); return "", false })
	for _, k := range read {
		if !slices.Contains(Vars, k) {
			t.Errorf("Load reads %s, which Vars (and so .env checking and the docs) does not list", k)
		}
	}
	for _, k := range Vars {
		if !slices.Contains(read, k) {
			t.Errorf("Vars lists %s, which Load never reads", k)
		}
	}
}

// TestEnvExampleDocumentsEveryVariable keeps .env.example (the reference
// for operators) in step with what Load reads.
func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		if k, _, ok := strings.Cut(line, "="); ok && !strings.Contains(k, " ") {
			documented[k] = true
		}
	}
	for _, k := range Vars {
		if !documented[k] {
			t.Errorf(".env.example does not document %s", k)
		}
	}
}
