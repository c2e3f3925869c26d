package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// Config is every runtime setting. The JSON names are the keys of the
// YAML config file; docs/configuration.md documents each one.
type Config struct {
	// Port is the HTTP and WebSocket listen port. Env PORT.
	Port int `json:"port,omitempty"`
	// Production refuses to start without a JWT key. Env NODE_ENV=production.
	Production bool `json:"production,omitempty"`
	// RedisURL selects the Redis broker; empty means in-memory. Env REDIS_URL.
	RedisURL  string         `json:"redisURL,omitempty"`
	Auth      Auth           `json:"auth,omitempty"`
	CORS      CORS           `json:"cors,omitempty"`
	Limits    Limits         `json:"limits,omitempty"`
	RateLimit RateLimit      `json:"rateLimit,omitempty"`
	Channels  channel.Config `json:"channels,omitempty"`
	Messages  Messages       `json:"messages,omitempty"`
	Queue     Queue          `json:"queue,omitempty"`
	Heartbeat Heartbeat      `json:"heartbeat,omitempty"`
	Drain     Drain          `json:"drain,omitempty"`
	Health    Health         `json:"health,omitempty"`
	Log       Log            `json:"log,omitempty"`
}

// Auth configures token verification.
type Auth struct {
	// Secret is the HS256 key. Only from env JWT_SECRET or SecretFile, so
	// it never sits in a config file.
	Secret string `json:"-"`
	// SecretFile is a file holding the HS256 key (a mounted Secret).
	SecretFile string `json:"secretFile,omitempty"`
	// PublicKeyFile is a PEM RSA (RS256) or EC P-256 (ES256) public key.
	PublicKeyFile string `json:"publicKeyFile,omitempty"`
	// Issuer, when set, must match the token's iss.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must be in the token's aud.
	Audience string `json:"audience,omitempty"`
	// Leeway is the allowed clock skew on exp and nbf.
	Leeway Duration `json:"leeway,omitempty"`
	// RequireExpiry refuses tokens without exp.
	RequireExpiry bool `json:"requireExpiry,omitempty"`
}

// CORS configures allowed browser origins, for the HTTP API and the
// WebSocket upgrade's Origin check.
type CORS struct {
	// Origins are exact origins ("https://app.example.com"), wildcard
	// subdomains ("https://*.example.com") or "*". Env CORS_ORIGINS,
	// comma-separated.
	Origins []string `json:"origins,omitempty"`
}

// Limits are size and count caps.
type Limits struct {
	MaxConnections           int   `json:"maxConnections,omitempty"`
	MaxMessageBytes          int64 `json:"maxMessageBytes,omitempty"`
	MaxBodyBytes             int64 `json:"maxBodyBytes,omitempty"`
	MaxChannelsPerConnection int   `json:"maxChannelsPerConnection,omitempty"`
	OutboundQueueBytes       int   `json:"outboundQueueBytes,omitempty"`
	MaxBulkUsers             int   `json:"maxBulkUsers,omitempty"`
}

// RateLimit is the default per-user rule for client events: Max events per
// Window. Env RATE_LIMIT_WINDOW (milliseconds) and RATE_LIMIT_MAX.
type RateLimit struct {
	Window Duration `json:"window,omitempty"`
	Max    int      `json:"max,omitempty"`
}

// Messages configures application message types.
type Messages struct {
	// AllowedTypes, when non-empty, is the only types the API accepts.
	AllowedTypes []string `json:"allowedTypes,omitempty"`
}

// Queue bounds the offline queue.
type Queue struct {
	MaxPerUser int      `json:"maxPerUser,omitempty"`
	TTL        Duration `json:"ttl,omitempty"`
}

// Heartbeat configures server pings.
type Heartbeat struct {
	Interval Duration `json:"interval,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// Drain configures the paced stop on SIGTERM.
type Drain struct {
	// PreDelay keeps serving, while reporting not ready, so that load
	// balancers stop sending new connections before any is closed.
	PreDelay Duration `json:"preDelay,omitempty"`
	// Timeout is the window over which connections are closed. Env
	// DRAIN_TIMEOUT.
	Timeout Duration `json:"timeout,omitempty"`
	// ReconnectDelayMax bounds the jittered reconnect delay suggested to
	// each client.
	ReconnectDelayMax Duration `json:"reconnectDelayMax,omitempty"`
}

// ExitBudget is the longest a SIGTERM can take: the pre-drain delay, the
// drain window and DrainGrace for the last clients to finish closing. An
// orchestrator's kill deadline (terminationGracePeriodSeconds) must exceed
// it.
func (d Drain) ExitBudget() time.Duration {
	return d.PreDelay.Duration + d.Timeout.Duration + DrainGrace
}

// DrainGrace is the time after the drain window for close handshakes and
// the HTTP server to finish.
const DrainGrace = 5 * time.Second

// Health configures readiness.
type Health struct {
	// BrokerGrace is how long the broker may be unreachable before the
	// node reports not ready.
	BrokerGrace Duration `json:"brokerGrace,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level,omitempty"`
}

// Default returns the defaults. They match the replaced service's
// documented example configuration where it had one.
func Default() Config {
	return Config{
		Port: 8080,
		Auth: Auth{Leeway: Duration{30 * time.Second}},
		Limits: Limits{
			MaxConnections:           10000,
			MaxMessageBytes:          64 << 10,
			MaxBodyBytes:             1 << 20,
			MaxChannelsPerConnection: 100,
			OutboundQueueBytes:       1 << 20,
			MaxBulkUsers:             1000,
		},
		RateLimit: RateLimit{Window: Duration{time.Minute}, Max: 60},
		Channels:  channel.Config{Default: channel.Rule{Allow: channel.AllowAuthenticated}},
		Queue:     Queue{MaxPerUser: 1000, TTL: Duration{24 * time.Hour}},
		Heartbeat: Heartbeat{Interval: Duration{25 * time.Second}, Timeout: Duration{60 * time.Second}},
		Drain: Drain{
			PreDelay:          Duration{5 * time.Second},
			Timeout:           Duration{30 * time.Second},
			ReconnectDelayMax: Duration{5 * time.Second},
		},
		Health: Health{BrokerGrace: Duration{15 * time.Second}},
		Log:    Log{Level: "info"},
	}
}

// DevMode reports whether no verification key is configured, so the
// runtime runs with a development secret.
func (c *Config) DevMode() bool {
	return c.Auth.Secret == "" && c.Auth.SecretFile == "" && c.Auth.PublicKeyFile == ""
}

// Validate checks every setting and returns all problems at once, each
// naming its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Port < 1 || c.Port > 65535 {
		bad("port (PORT): must be between 1 and 65535, got %d", c.Port)
	}
	if c.Production && c.DevMode() {
		bad("auth: production mode needs JWT_SECRET, auth.secretFile or auth.publicKeyFile")
	}
	if c.Auth.Secret != "" && len(c.Auth.Secret) < 32 && c.Production {
		bad("JWT_SECRET: must be at least 32 bytes in production, got %d", len(c.Auth.Secret))
	}
	if c.Auth.Leeway.Duration < 0 || c.Auth.Leeway.Duration > 5*time.Minute {
		bad("auth.leeway: must be between 0s and 5m, got %s", c.Auth.Leeway)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("redisURL (REDIS_URL): must be a redis:// or rediss:// URL")
		} else {
			bad("redisURL (REDIS_URL): this build has only the in-memory broker; unset REDIS_URL")
		}
	}
	for _, o := range c.CORS.Origins {
		if err := validateOrigin(o); err != nil {
			bad("cors.origins (CORS_ORIGINS): %v", err)
		}
	}
	c.validateLimits(bad)
	if c.RateLimit.Max < 0 || c.RateLimit.Window.Duration < 0 {
		bad("rateLimit: window (RATE_LIMIT_WINDOW) and max (RATE_LIMIT_MAX) must not be negative")
	} else if c.RateLimit.Max > 0 && c.RateLimit.Window.Duration < time.Millisecond {
		bad("rateLimit.window (RATE_LIMIT_WINDOW): must be at least 1ms when rateLimit.max is set")
	}
	if err := c.Channels.Validate(); err != nil {
		bad("%v", err)
	}
	for _, t := range c.Messages.AllowedTypes {
		if err := message.ValidateType(t, nil); err != nil {
			bad("messages.allowedTypes: %v", err)
		}
	}
	if c.Queue.MaxPerUser < 1 {
		bad("queue.maxPerUser: must be at least 1, got %d", c.Queue.MaxPerUser)
	}
	if c.Queue.TTL.Duration < time.Second {
		bad("queue.ttl: must be at least 1s, got %s", c.Queue.TTL)
	}
	if c.Heartbeat.Interval.Duration < 100*time.Millisecond {
		bad("heartbeat.interval: must be at least 100ms, got %s", c.Heartbeat.Interval)
	}
	if c.Heartbeat.Timeout.Duration <= c.Heartbeat.Interval.Duration {
		bad("heartbeat.timeout: must exceed heartbeat.interval (%s), got %s", c.Heartbeat.Interval, c.Heartbeat.Timeout)
	}
	if c.Drain.PreDelay.Duration < 0 || c.Drain.PreDelay.Duration > 5*time.Minute {
		bad("drain.preDelay: must be between 0s and 5m, got %s", c.Drain.PreDelay)
	}
	if c.Drain.Timeout.Duration < 0 || c.Drain.Timeout.Duration > time.Hour {
		bad("drain.timeout (DRAIN_TIMEOUT): must be between 0s and 1h, got %s", c.Drain.Timeout)
	}
	if c.Drain.ReconnectDelayMax.Duration < 0 {
		bad("drain.reconnectDelayMax: must not be negative, got %s", c.Drain.ReconnectDelayMax)
	}
	if c.Health.BrokerGrace.Duration < 0 {
		bad("health.brokerGrace: must not be negative, got %s", c.Health.BrokerGrace)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: must be debug, info, warn or error, got %q", c.Log.Level)
	}
	return errors.Join(errs...)
}

func (c *Config) validateLimits(bad func(string, ...any)) {
	l := c.Limits
	if l.MaxConnections < 1 {
		bad("limits.maxConnections (MAX_CONNECTIONS): must be at least 1, got %d", l.MaxConnections)
	}
	if l.MaxMessageBytes < 256 {
		bad("limits.maxMessageBytes: must be at least 256, got %d", l.MaxMessageBytes)
	}
	if l.MaxBodyBytes < 1024 {
		bad("limits.maxBodyBytes: must be at least 1024, got %d", l.MaxBodyBytes)
	}
	if l.MaxChannelsPerConnection < 1 {
		bad("limits.maxChannelsPerConnection: must be at least 1, got %d", l.MaxChannelsPerConnection)
	}
	if int64(l.OutboundQueueBytes) < l.MaxBodyBytes {
		bad("limits.outboundQueueBytes: must be at least limits.maxBodyBytes (%d) so the largest message fits, got %d", l.MaxBodyBytes, l.OutboundQueueBytes)
	}
	if l.MaxBulkUsers < 1 {
		bad("limits.maxBulkUsers: must be at least 1, got %d", l.MaxBulkUsers)
	}
}

func validateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return fmt.Errorf("%q must be \"*\" or scheme://host[:port] such as https://app.example.com or https://*.example.com", o)
	}
	if strings.Contains(strings.TrimPrefix(u.Host, "*."), "*") {
		return fmt.Errorf("%q: a wildcard may only be the first label, as in https://*.example.com", o)
	}
	return nil
}
