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
		"JWT_SECRET_KEY":              strings.Repeat("s", 32),
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

func TestCreateDatabase(t *testing.T) {
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"on by default in development", nil, true},
		{"on by default in test", map[string]string{"ENVIRONMENT": "test"}, true},
		{"off by default in production", map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": secret}, false},
		{"turned off", map[string]string{"DB_CREATE_DATABASE": "false"}, false},
		{"turned on in production", map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": secret,
			"DB_CREATE_DATABASE": "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.DB.CreateDatabase != tt.want {
				t.Errorf("CreateDatabase = %v, want %v", c.DB.CreateDatabase, tt.want)
			}
		})
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
		"DB_CREATE_DATABASE":   "sometimes",
		"REDIS_URL":            "http://localhost:6379",
		"CORS_ALLOWED_ORIGINS": "*",
		"HTTP_MAX_BODY_BYTES":  "0",
		"AUTH_MODE":            "some",
		"AUTH_REGISTRATION":    "maybe",
		"JWT_SECRET_KEY":       "too-short",
		"RATE_LIMIT_READ":      "lots",
		"TRUSTED_PROXIES":      "10.0.0.0/33",
		"ADMIN_USERNAME":       "admin",
		"TLS_CERT_FILE":        "/nonexistent/cert.pem",
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

func TestAuthSettings(t *testing.T) {
	secret := strings.Repeat("k", 32)
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want func(Config) bool
	}{
		{"defaults outside production: writes, open registration, ephemeral secret", nil, true, func(c Config) bool {
			return c.Auth.Mode == "writes" && c.Auth.Registration == "open" && c.Auth.SecretEphemeral &&
				len(c.Auth.Secret) >= 32 && c.Auth.AccessTTL == 30*time.Minute && c.RateLimits.Enabled
		}},
		{"production needs a secret", map[string]string{"ENVIRONMENT": "production"}, false, nil},
		{"production with a secret: admin registration", map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": secret}, true,
			func(c Config) bool {
				return c.Auth.Registration == "admin" && !c.Auth.SecretEphemeral && string(c.Auth.Secret) == secret
			}},
		{"short secret refused even in development", map[string]string{"JWT_SECRET_KEY": secret[:31]}, false, nil},
		{"first admin: all three", map[string]string{"ADMIN_EMAIL": "a@example.com", "ADMIN_USERNAME": "admin",
			"ADMIN_PASSWORD": "twelve-chars"}, true, func(c Config) bool { return c.Auth.AdminUsername == "admin" }},
		{"first admin: password too short", map[string]string{"ADMIN_EMAIL": "a@example.com", "ADMIN_USERNAME": "admin",
			"ADMIN_PASSWORD": "short"}, false, nil},
		{"first admin: not all three", map[string]string{"ADMIN_PASSWORD": "a-long-enough-password"}, false, nil},
		{"limits and proxies", map[string]string{"RATE_LIMIT_READ": "off", "RATE_LIMIT_WRITE": "5/s",
			"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7, ::1"}, true, func(c Config) bool {
			return c.RateLimits.Read.IsZero() && c.RateLimits.Write.Rate == 5 && c.RateLimits.Write.Period == time.Second &&
				len(c.TrustedProxies) == 3 && c.TrustedProxies[1].Bits() == 32
		}},
		{"trusting every address is refused", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0"}, false, nil},
		{"a long refresh grace is refused", map[string]string{"JWT_REFRESH_REUSE_GRACE": "1h"}, false, nil},
		{"TLS files must come in pairs", map[string]string{"TLS_KEY_FILE": "../../go.mod"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !tt.want(c) {
				t.Fatalf("got %+v / %+v", c.Auth, c.RateLimits)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		value   string
		want    []Role
		wantErr string
	}{
		{value: "", want: Roles},
		{value: "api", want: []Role{RoleAPI}},
		{value: " API , api ", want: []Role{RoleAPI}},
		{value: "api,worker", want: []Role{RoleAPI, RoleWorker}},
		{value: "worker", want: []Role{RoleWorker}},
		{value: "api,delivery", wantErr: `RCA_ROLES: "delivery" is not a role; roles are api, worker`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Load(lookup(map[string]string{"RCA_ROLES": tt.value}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Roles, tt.want) || c.HasRole(RoleAPI) != slices.Contains(tt.want, RoleAPI) {
				t.Fatalf("roles = %q, want %q", c.Roles, tt.want)
			}
		})
	}
}

// TestCORSDefaults: the original Next.js UI (port 3000) and this project's
// dev server work against a local API out of the box; production allows no
// origin it was not told.
func TestCORSDefaults(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"development default", nil, DevOrigins()},
		{"test default", map[string]string{"ENVIRONMENT": "test"}, DevOrigins()},
		{"production default", map[string]string{"ENVIRONMENT": "production", "JWT_SECRET_KEY": strings.Repeat("s", 32)}, nil},
		{"explicit list replaces the default", map[string]string{"CORS_ALLOWED_ORIGINS": "https://ui.example.com"},
			[]string{"https://ui.example.com"}},
		{"none", map[string]string{"CORS_ALLOWED_ORIGINS": "none"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.CORSOrigins, tt.want) {
				t.Fatalf("origins = %q, want %q", c.CORSOrigins, tt.want)
			}
		})
	}
	if slices.Contains(DevOrigins(), "*") {
		t.Fatal("a wildcard in the default list")
	}
}

func TestStreamCaps(t *testing.T) {
	tests := []struct {
		name                       string
		env                        map[string]string
		total, perClient, catchUps int
		wantErr                    string
	}{
		{name: "defaults; catch-ups left to the pool's size", total: 2000, perClient: 64, catchUps: 0},
		{name: "set", env: map[string]string{"SSE_MAX_STREAMS": "500", "SSE_MAX_STREAMS_PER_CLIENT": "10",
			"SSE_MAX_CATCHUPS": "3"}, total: 500, perClient: 10, catchUps: 3},
		{name: "0 turns each off (negative for package sse)", env: map[string]string{"SSE_MAX_STREAMS": "0",
			"SSE_MAX_STREAMS_PER_CLIENT": "0", "SSE_MAX_CATCHUPS": "0"}, total: -1, perClient: -1, catchUps: -1},
		{name: "negative", env: map[string]string{"SSE_MAX_STREAMS": "-5"}, wantErr: "SSE_MAX_STREAMS: must be a whole number"},
		{name: "not a number", env: map[string]string{"SSE_MAX_STREAMS_PER_CLIENT": "lots"},
			wantErr: "SSE_MAX_STREAMS_PER_CLIENT: must be a whole number"},
		{name: "too many catch-ups", env: map[string]string{"SSE_MAX_CATCHUPS": "20000"}, wantErr: "SSE_MAX_CATCHUPS:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SSE.MaxStreams != tt.total || c.SSE.MaxStreamsPerClient != tt.perClient || c.SSE.MaxCatchUps != tt.catchUps {
				t.Fatalf("caps %d / %d / %d, want %d / %d / %d", c.SSE.MaxStreams, c.SSE.MaxStreamsPerClient,
					c.SSE.MaxCatchUps, tt.total, tt.perClient, tt.catchUps)
			}
		})
	}
}
