package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/channel"
)

func env(kv ...string) Source {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runtime.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if !c.DevMode() {
		t.Fatal("defaults should be dev mode")
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	file := writeFile(t, `
port: 9000
limits:
  maxConnections: 50
rateLimit:
  window: 10s
  max: 5
log:
  level: warn
channels:
  namespaces:
    ops: {allow: roles, roles: [oncall]}
`)
	cfg, err := Load([]string{"--config", file, "--log-level", "error"},
		env("PORT", "9100", "RATE_LIMIT_WINDOW", "30000", "JWT_SECRET", "s3cret", "CORS_ORIGINS", "https://a.example.com, https://*.b.example.com"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"port from env over file", cfg.Port, 9100},
		{"maxConnections from file", cfg.Limits.MaxConnections, 50},
		{"window from env in ms", cfg.RateLimit.Window.Duration, 30 * time.Second},
		{"max from file", cfg.RateLimit.Max, 5},
		{"level from flag over file", cfg.Log.Level, "error"},
		{"secret from env", cfg.Auth.Secret, "s3cret"},
		{"origins split", strings.Join(cfg.CORS.Origins, "|"), "https://a.example.com|https://*.b.example.com"},
		{"namespace rule", cfg.Channels.Namespaces["ops"].Allow, channel.AllowRoles},
		{"untouched default", cfg.Queue.MaxPerUser, 1000},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestNodeEnvProduction(t *testing.T) {
	_, err := Load(nil, env("NODE_ENV", "production"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "production mode needs JWT_SECRET") {
		t.Fatalf("err = %v", err)
	}
	_, err = Load([]string{"--production"}, env("JWT_SECRET", "short"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET: must be at least 32 bytes") {
		t.Fatalf("err = %v", err)
	}
	cfg, err := Load(nil, env("NODE_ENV", "production", "JWT_SECRET", strings.Repeat("k", 32)), io.Discard)
	if err != nil || !cfg.Production {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
}

func TestSecretFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{"--config", writeFile(t, "auth:\n  secretFile: "+secret+"\n")}, env(), io.Discard)
	if err != nil || cfg.Auth.Secret != "from-file" || cfg.DevMode() {
		t.Fatalf("cfg.Auth %+v err %v", cfg.Auth, err)
	}
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  Source
		file string
		want string
	}{
		{"port range", []string{"--port", "0"}, env(), "", "port (PORT)"},
		{"port not a number", nil, env("PORT", "eighty"), "", "PORT: must be an integer"},
		{"host not an address", nil, env("HOST", "localhost"), "", `host (HOST): must be an IP address, or empty for every address, got "localhost"`},
		{"window not a number", nil, env("RATE_LIMIT_WINDOW", "1m"), "", "RATE_LIMIT_WINDOW: must be an integer number of milliseconds"},
		{"negative max", nil, env("RATE_LIMIT_MAX", "-1"), "", "rateLimit"},
		{"max connections", nil, env("MAX_CONNECTIONS", "0"), "", "limits.maxConnections (MAX_CONNECTIONS)"},
		{"bad origin", nil, env("CORS_ORIGINS", "example.com"), "", "cors.origins (CORS_ORIGINS)"},
		{"wildcard in the middle", nil, env("CORS_ORIGINS", "https://a.*.com"), "", "wildcard"},
		{"redis bad scheme", nil, env("REDIS_URL", "http://x"), "", "redis:// or rediss://"},
		{"unknown file key", nil, env(), "limits:\n  maxConnection: 5\n", "unknown field"},
		{"bad duration", nil, env(), "heartbeat:\n  interval: soon\n", "invalid duration"},
		{"timeout not above interval", nil, env(), "heartbeat:\n  interval: 30s\n  timeout: 30s\n", "heartbeat.timeout: must exceed heartbeat.interval"},
		{"built-in namespace", nil, env(), "channels:\n  namespaces:\n    admin: {allow: deny}\n", "channels.namespaces.admin"},
		{"roles rule without roles", nil, env(), "channels:\n  namespaces:\n    ops: {allow: roles}\n", "allow: roles needs at least one role"},
		{"unknown rule", nil, env(), "channels:\n  default: {allow: everyone}\n", "allow must be one of"},
		{"history too long", nil, env(), "channels:\n  history:\n    news: {size: 20000, ttl: 1m}\n", "channels.history.news.size"},
		{"default history bad ttl", nil, env(), "channels:\n  defaultHistory: {size: 10, ttl: soon}\n", "channels.defaultHistory.ttl"},
		{"history bad ttl", nil, env(), "channels:\n  history:\n    news: {size: 10, ttl: soon}\n", "channels.history.news.ttl"},
		{"reserved allowed type", nil, env(), "messages:\n  allowedTypes: [error]\n", "messages.allowedTypes"},
		{"queue too small", nil, env(), "queue:\n  maxPerUser: 0\n", "queue.maxPerUser"},
		{"log level", []string{"--log-level", "loud"}, env(), "", "log.level"},
		{"stray argument", []string{"serve"}, env(), "", "unexpected argument"},
		{"outbound below body", nil, env(), "limits:\n  outboundQueueBytes: 2048\n", "limits.outboundQueueBytes"},
		{"write delay too long", nil, env(), "transport:\n  writeDelay: 1s\n", "transport.writeDelay"},
		{"negative connections per address", nil, env(), "limits:\n  connectionsPerSecondPerIP: -1\n", "limits.connectionsPerSecondPerIP: must be from 0 (off) to 1000000, got -1"},
		{"presence ttl too short", nil, env(), "presence:\n  ttl: 10ms\n", "presence.ttl"},
		{"server subscriptions ttl", nil, env(), "serverSubscriptions:\n  ttl: 0s\n", "serverSubscriptions.ttl"},
		{"expiry warning", nil, env(), "auth:\n  expiryWarning: 2h\n", "auth.expiryWarning"},
		{"join and leave without presence", nil, env(), "channels:\n  namespaces:\n    doc: {joinLeave: true}\n", "joinLeave needs presence"},
		{"publish roles without roles", nil, env(), "channels:\n  namespaces:\n    ops: {publish: roles}\n", "publishRoles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			_, err := Load(args, tt.env, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := Load([]string{"--config", "/nonexistent/runtime.yaml"}, env(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("err = %v", err)
	}
}

// The replaced service's DEBUG=websocket* turns on debug logs, as
// LOG_LEVEL=debug does; LOG_LEVEL still wins, and other namespaces or an
// exclusion leave the level alone.
func TestDebugNamespacesSetTheLogLevel(t *testing.T) {
	for _, tc := range []struct {
		env  Source
		want string
	}{
		{env("DEBUG", "websocket*"), "debug"},
		{env("DEBUG", "websocket:*"), "debug"},
		{env("DEBUG", "express:*,websocket"), "debug"},
		{env("DEBUG", "*"), "debug"},
		{env("DEBUG", "*,-websocket*"), "info"},
		{env("DEBUG", "express:*"), "info"},
		{env("DEBUG", "websocket*", "LOG_LEVEL", "warn"), "warn"},
		{env(), "info"},
	} {
		cfg, err := Load(nil, tc.env, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Log.Level != tc.want {
			d, _ := tc.env("DEBUG")
			t.Errorf("DEBUG=%q: log level %q, want %q", d, cfg.Log.Level, tc.want)
		}
	}
}
