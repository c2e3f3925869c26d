package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/redisconn"
)

// Config is every runtime setting. The JSON names are the keys of the
// YAML config file; docs/configuration.md documents each one.
type Config struct {
	// Port is the HTTP and WebSocket listen port. Env PORT.
	Port int `json:"port,omitempty"`
	// Host is the address to listen on; empty listens on every address.
	// Env HOST.
	Host string `json:"host,omitempty"`
	// Production refuses to start without a JWT key. Env NODE_ENV=production.
	Production bool `json:"production,omitempty"`
	// RedisURL selects the Redis broker; empty means in-memory. Env REDIS_URL.
	RedisURL string `json:"redisURL,omitempty"`
	// RedisKeyPrefix starts every Redis key and channel, so services can
	// share a Redis. Env REDIS_KEY_PREFIX. Default "fleetwire:".
	RedisKeyPrefix string `json:"redisKeyPrefix,omitempty"`
	// RedisMode is standalone (default), sentinel or cluster. Env REDIS_MODE.
	RedisMode string `json:"redisMode,omitempty"`
	// RedisAddrs are the sentinels or cluster nodes. Env REDIS_ADDRS,
	// comma-separated.
	RedisAddrs []string `json:"redisAddrs,omitempty"`
	// RedisMasterName names the sentinel master. Env REDIS_MASTER_NAME.
	RedisMasterName string `json:"redisMasterName,omitempty"`
	// RedisPassword overrides the password in RedisURL, so the password
	// can come from its own secret. Env REDIS_PASSWORD only, never a file.
	RedisPassword string `json:"-"`
	// RedisTLS connects over TLS even when the URL is redis://, and in
	// sentinel and cluster modes without a URL. Env REDIS_TLS=true.
	RedisTLS  bool           `json:"redisTLS,omitempty"`
	Auth      Auth           `json:"auth,omitempty"`
	CORS      CORS           `json:"cors,omitempty"`
	Limits    Limits         `json:"limits,omitempty"`
	RateLimit RateLimit      `json:"rateLimit,omitempty"`
	Channels  channel.Config `json:"channels,omitempty"`
	Messages  Messages       `json:"messages,omitempty"`
	Queue     Queue          `json:"queue,omitempty"`
	Heartbeat Heartbeat      `json:"heartbeat,omitempty"`
	Drain     Drain          `json:"drain,omitempty"`
	Rebalance Rebalance      `json:"rebalance,omitempty"`
	Transport Transport      `json:"transport,omitempty"`
	Presence  Presence       `json:"presence,omitempty"`
	// ServerSubscriptions are the channels a backend subscribes users to.
	ServerSubscriptions ServerSubscriptions `json:"serverSubscriptions,omitempty"`
	Security            Security            `json:"security,omitempty"`
	RPCProxy            RPCProxy            `json:"rpcProxy,omitempty"`
	Health              Health              `json:"health,omitempty"`
	Log                 Log                 `json:"log,omitempty"`
	SocketIO            SocketIO            `json:"socketIO"`
	Console             Console             `json:"console,omitempty"`
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
	// ExpiryWarning is how long before a token's exp the connection gets
	// a token_expiring event, so the client can send a refresh; 0 sends
	// none.
	ExpiryWarning Duration `json:"expiryWarning,omitempty"`
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
	// WriteTimeout bounds each socket write; a client that accepts no
	// bytes for this long is cut off.
	WriteTimeout Duration `json:"writeTimeout,omitempty"`
	// HTTPReadTimeout bounds reading an HTTP request, headers and body.
	HTTPReadTimeout Duration `json:"httpReadTimeout,omitempty"`
	// HTTPHeaderTimeout bounds reading a request's headers, the upgrade's
	// included: a client that sends them slowly (slowloris) is cut off.
	// Default 10s.
	HTTPHeaderTimeout Duration `json:"httpHeaderTimeout,omitempty"`
	// MaxHeaderBytes bounds a request's headers; more is answered 431.
	// Default 16 KiB, Node.js's default, which the replaced service had.
	MaxHeaderBytes int `json:"maxHeaderBytes,omitempty"`
	// ConnectionsPerSecondPerIP bounds the TCP connections one client
	// address may open a second, HTTP requests and WebSocket upgrades
	// alike, checked as they are accepted, before anything is read:
	// connections over it get a bare 429 and are closed. 0 (the default)
	// turns it off, as behind a load balancer every client shares its
	// addresses; set it where clients reach the node directly.
	ConnectionsPerSecondPerIP int `json:"connectionsPerSecondPerIP,omitempty"`
	// BadRequestsPerSecondPerIP bounds the bad requests one client
	// address may make a second: connections the node closes for breaking
	// the protocol or its limits (a frame too large, an undecodable
	// packet, abuse). Past it, the address's connections are refused as
	// they are accepted, like connectionsPerSecondPerIP, until it is back
	// under the rate; a request with headers too large holds a token while
	// it is refused. Default 10; 0 turns it off. Well behaved clients make
	// none, and a load balancer that hides client addresses passes few on,
	// so it is on by default.
	BadRequestsPerSecondPerIP int `json:"badRequestsPerSecondPerIP"`
}

// RateLimit holds every rate rule. Window and Max are the default
// per-user rule for client events (env RATE_LIMIT_WINDOW in milliseconds,
// RATE_LIMIT_MAX), as in the replaced service.
type RateLimit struct {
	Window Duration `json:"window,omitempty"`
	Max    int      `json:"max"`
	// Events adds per-user limits for single events, e.g. subscribe.
	Events map[string]Rule `json:"events,omitempty"`
	// ConnectionsPerIP limits connection attempts per client IP.
	ConnectionsPerIP Rule `json:"connectionsPerIP,omitempty"`
	// ConnectionsPerUser caps each user's open connections; 0 means none.
	ConnectionsPerUser int `json:"connectionsPerUser"`
	// HTTPPerCaller limits HTTP API calls per token subject.
	HTTPPerCaller Rule `json:"httpPerCaller,omitempty"`
	// Abuse closes a connection whose events keep being blocked.
	Abuse Abuse `json:"abuse,omitempty"`
	// Tiers override rules for tokens whose tier claim names them.
	Tiers map[string]Tier `json:"tiers,omitempty"`
}

// Rule is Limit per Window; a limit of 0 disables the rule.
type Rule struct {
	Limit  int      `json:"limit"`
	Window Duration `json:"window,omitempty"`
}

// Abuse closes a connection after Blocked rate-limited events within
// Window (with close code 1008). Blocked 0 never closes.
type Abuse struct {
	Blocked int      `json:"blocked"`
	Window  Duration `json:"window,omitempty"`
	// Ban is how long the client address of a connection closed for
	// abuse may open no other, when limits.connectionsPerSecondPerIP
	// bounds addresses; its refusals say when to come back. 0 bans none.
	Ban Duration `json:"ban,omitempty"`
}

// Tier overrides rules for one tier. Unset fields keep the default.
type Tier struct {
	Messages           *Rule           `json:"messages,omitempty"`
	Events             map[string]Rule `json:"events,omitempty"`
	ConnectionsPerUser *int            `json:"connectionsPerUser,omitempty"`
	HTTPPerCaller      *Rule           `json:"httpPerCaller,omitempty"`
}

// RPCProxy forwards custom client events to a backend.
type RPCProxy struct {
	// URL receives the events as POSTs; empty turns forwarding off. Env
	// RPC_PROXY_URL.
	URL string `json:"url,omitempty"`
	// Timeout bounds one call.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxConcurrent bounds calls in flight on the node.
	MaxConcurrent int `json:"maxConcurrent,omitempty"`
}

// Security configures response headers.
type Security struct {
	// HSTSMaxAge is the Strict-Transport-Security max-age sent on requests
	// that arrived over TLS (or with X-Forwarded-Proto: https); 0 sends none.
	HSTSMaxAge Duration `json:"hstsMaxAge,omitempty"`
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

// Presence configures how long a connection counts as present, on its
// user and its channels, without its node refreshing it: a dead node's
// connections leave within this time. With Redis only; in memory,
// connections leave when they close.
type Presence struct {
	// TTL is between 1s and 10m. Nodes refresh every third of it.
	TTL Duration `json:"ttl,omitempty"`
}

// Transport configures the WebSocket transport of /ws.
type Transport struct {
	// Compression negotiates permessage-deflate with clients that offer
	// it. Off by default: each compressing connection costs memory and
	// CPU (docs/benchmarks.md).
	Compression bool `json:"compression,omitempty"`
	// WriteDelay makes each connection wait this long after a message
	// before writing, so messages that follow within it share one write:
	// fewer system calls under heavy fan-out, for that much latency.
	// 0s to 100ms; default 0s.
	WriteDelay Duration `json:"writeDelay,omitempty"`
}

// ServerSubscriptions configures POST /ws/subscribe/:userId.
type ServerSubscriptions struct {
	// TTL is how long a server-side subscription is remembered for the
	// user's next connections (1s to 30 days).
	TTL Duration `json:"ttl,omitempty"`
}

// Rebalance is where the node reads the rebalance orders the operator
// writes on its pod (docs/autoscaling.md).
type Rebalance struct {
	// AnnotationsFile is the pod's annotations as a downward API volume
	// presents them; the order is the annotation
	// realtime.fleetwire.io/rebalance. Empty: orders come only from
	// POST /admin/rebalance. Env REBALANCE_ANNOTATIONS_FILE.
	AnnotationsFile string `json:"annotationsFile,omitempty"`
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
	// SubscriptionCheck is how often an idle Redis subscription connection
	// is pinged. One that answers neither of two pings in a row is taken
	// for wedged (cut, but not closed) and replaced. Default 5s.
	SubscriptionCheck Duration `json:"subscriptionCheck,omitempty"`
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
		Port:                8080,
		Auth:                Auth{Leeway: Duration{30 * time.Second}, ExpiryWarning: Duration{time.Minute}},
		ServerSubscriptions: ServerSubscriptions{TTL: Duration{time.Hour}},
		Presence:            Presence{TTL: Duration{30 * time.Second}},
		Limits: Limits{
			MaxConnections:           10000,
			MaxMessageBytes:          64 << 10,
			MaxBodyBytes:             1 << 20,
			MaxChannelsPerConnection: 100,
			OutboundQueueBytes:       1 << 20,
			MaxBulkUsers:             1000,
			WriteTimeout:             Duration{10 * time.Second},
			HTTPReadTimeout:          Duration{30 * time.Second},
			HTTPHeaderTimeout:        Duration{10 * time.Second},
			MaxHeaderBytes:           16 << 10,
			// Refusing 10 bad requests a second costs a node about 0.5 %
			// of a core (docs/reliability.md).
			BadRequestsPerSecondPerIP: 10,
		},
		RateLimit: RateLimit{
			Window:             Duration{time.Minute},
			Max:                60,
			Events:             map[string]Rule{"subscribe": {Limit: 30, Window: Duration{time.Minute}}},
			ConnectionsPerIP:   Rule{Limit: 300, Window: Duration{time.Minute}},
			ConnectionsPerUser: 20,
			Abuse:              Abuse{Blocked: 20, Window: Duration{time.Minute}, Ban: Duration{10 * time.Second}},
		},
		Security:  Security{HSTSMaxAge: Duration{365 * 24 * time.Hour}},
		RPCProxy:  RPCProxy{Timeout: Duration{5 * time.Second}, MaxConcurrent: 64},
		Channels:  channel.Config{Default: channel.Rule{Allow: channel.AllowAuthenticated}},
		Queue:     Queue{MaxPerUser: 1000, TTL: Duration{24 * time.Hour}},
		Heartbeat: Heartbeat{Interval: Duration{25 * time.Second}, Timeout: Duration{60 * time.Second}},
		Drain: Drain{
			PreDelay:          Duration{5 * time.Second},
			Timeout:           Duration{30 * time.Second},
			ReconnectDelayMax: Duration{5 * time.Second},
		},
		Health:   Health{BrokerGrace: Duration{15 * time.Second}, SubscriptionCheck: Duration{5 * time.Second}},
		Log:      Log{Level: "info"},
		SocketIO: defaultSocketIO(),
	}
}

// UsesRedis reports whether the shared stores live in Redis.
func (c *Config) UsesRedis() bool { return c.RedisURL != "" || len(c.RedisAddrs) > 0 }

// Redis returns the Redis connection settings.
func (c *Config) Redis() redisconn.Config {
	return redisconn.Config{URL: c.RedisURL, Mode: redisconn.Mode(c.RedisMode), Addrs: c.RedisAddrs,
		MasterName: c.RedisMasterName, KeyPrefix: c.RedisKeyPrefix, Password: c.RedisPassword, TLS: c.RedisTLS}
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
	if c.Host != "" && net.ParseIP(c.Host) == nil {
		bad("host (HOST): must be an IP address, or empty for every address, got %q", c.Host)
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
	if d := c.Presence.TTL.Duration; d < time.Second || d > 10*time.Minute {
		bad("presence.ttl: must be between 1s and 10m, got %s", c.Presence.TTL)
	}
	if d := c.Transport.WriteDelay.Duration; d < 0 || d > 100*time.Millisecond {
		bad("transport.writeDelay: must be between 0s and 100ms, got %s", c.Transport.WriteDelay)
	}
	if d := c.ServerSubscriptions.TTL.Duration; d < time.Second || d > 30*24*time.Hour {
		bad("serverSubscriptions.ttl: must be between 1s and 720h, got %s", c.ServerSubscriptions.TTL)
	}
	if c.Auth.ExpiryWarning.Duration < 0 || c.Auth.ExpiryWarning.Duration > time.Hour {
		bad("auth.expiryWarning: must be between 0s and 1h, got %s", c.Auth.ExpiryWarning)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad("redisURL (REDIS_URL): must be a redis:// or rediss:// URL with a host")
		}
	}
	if c.UsesRedis() {
		if err := c.Redis().Validate(); err != nil {
			bad("redis (REDIS_URL, REDIS_MODE, REDIS_ADDRS, REDIS_MASTER_NAME): %v", err)
		}
	} else if c.RedisMode != "" && c.RedisMode != string(redisconn.Standalone) {
		bad("redisMode (REDIS_MODE): %s mode needs redisAddrs (REDIS_ADDRS)", c.RedisMode)
	}
	for _, o := range c.CORS.Origins {
		if err := validateOrigin(o); err != nil {
			bad("cors.origins (CORS_ORIGINS): %v", err)
		}
	}
	c.validateLimits(bad)
	c.validateRateLimit(bad)
	c.validateSocketIO(bad)
	if c.RPCProxy.URL != "" {
		if u, err := url.Parse(c.RPCProxy.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("rpcProxy.url (RPC_PROXY_URL): must be an http:// or https:// URL, got %q", c.RPCProxy.URL)
		}
	}
	if c.RPCProxy.Timeout.Duration <= 0 || c.RPCProxy.Timeout.Duration > time.Minute {
		bad("rpcProxy.timeout: must be between 1ns and 1m, got %s", c.RPCProxy.Timeout)
	}
	if c.RPCProxy.MaxConcurrent < 1 {
		bad("rpcProxy.maxConcurrent: must be at least 1, got %d", c.RPCProxy.MaxConcurrent)
	}
	if c.Security.HSTSMaxAge.Duration < 0 {
		bad("security.hstsMaxAge: must not be negative, got %s", c.Security.HSTSMaxAge)
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
	if c.Health.SubscriptionCheck.Duration < 100*time.Millisecond {
		bad("health.subscriptionCheck: must be at least 100ms, got %s", c.Health.SubscriptionCheck)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: must be debug, info, warn or error, got %q", c.Log.Level)
	}
	return errors.Join(errs...)
}

func (c *Config) validateRateLimit(bad func(string, ...any)) {
	rl := c.RateLimit
	if rl.Max < 0 || rl.Window.Duration < 0 {
		bad("rateLimit: window (RATE_LIMIT_WINDOW) and max (RATE_LIMIT_MAX) must not be negative")
	} else if rl.Max > 0 && rl.Window.Duration < time.Millisecond {
		bad("rateLimit.window (RATE_LIMIT_WINDOW): must be at least 1ms when rateLimit.max is set")
	}
	checkRule := func(name string, r Rule) {
		if r.Limit < 0 || (r.Limit > 0 && r.Window.Duration < time.Millisecond) {
			bad("%s: needs limit >= 0 and, when limit is set, a window of at least 1ms (got %d per %s)", name, r.Limit, r.Window)
		}
	}
	for ev, r := range rl.Events {
		checkRule("rateLimit.events."+ev, r)
	}
	checkRule("rateLimit.connectionsPerIP", rl.ConnectionsPerIP)
	checkRule("rateLimit.httpPerCaller", rl.HTTPPerCaller)
	if rl.ConnectionsPerUser < 0 {
		bad("rateLimit.connectionsPerUser: must not be negative, got %d", rl.ConnectionsPerUser)
	}
	if rl.Abuse.Ban.Duration < 0 || rl.Abuse.Ban.Duration > time.Hour {
		bad("rateLimit.abuse.ban: must be from 0 (none) to 1h, got %s", rl.Abuse.Ban)
	}
	if rl.Abuse.Blocked < 0 || (rl.Abuse.Blocked > 0 && rl.Abuse.Window.Duration <= 0) {
		bad("rateLimit.abuse: needs blocked >= 0 and, when blocked is set, a positive window")
	}
	for name, t := range rl.Tiers {
		if t.Messages != nil {
			checkRule("rateLimit.tiers."+name+".messages", *t.Messages)
		}
		for ev, r := range t.Events {
			checkRule("rateLimit.tiers."+name+".events."+ev, r)
		}
		if t.HTTPPerCaller != nil {
			checkRule("rateLimit.tiers."+name+".httpPerCaller", *t.HTTPPerCaller)
		}
		if t.ConnectionsPerUser != nil && *t.ConnectionsPerUser < 0 {
			bad("rateLimit.tiers.%s.connectionsPerUser: must not be negative", name)
		}
	}
}

// RatePolicy converts the rate rules for the ratelimit package.
func (c *Config) RatePolicy() *ratelimit.Policy {
	rl := c.RateLimit
	conv := func(r Rule) ratelimit.Rule { return ratelimit.Rule{Limit: r.Limit, Window: r.Window.Duration} }
	convMap := func(m map[string]Rule) map[string]ratelimit.Rule {
		out := make(map[string]ratelimit.Rule, len(m))
		for k, r := range m {
			out[k] = conv(r)
		}
		return out
	}
	p := &ratelimit.Policy{
		Messages:           ratelimit.Rule{Limit: rl.Max, Window: rl.Window.Duration},
		Events:             convMap(rl.Events),
		ConnectionsPerIP:   conv(rl.ConnectionsPerIP),
		ConnectionsPerUser: rl.ConnectionsPerUser,
		HTTPPerCaller:      conv(rl.HTTPPerCaller),
		AbuseBlocked:       rl.Abuse.Blocked,
		AbuseWindow:        rl.Abuse.Window.Duration,
		Tiers:              map[string]ratelimit.Tier{},
	}
	for name, t := range rl.Tiers {
		tier := ratelimit.Tier{Events: convMap(t.Events), ConnectionsPerUser: t.ConnectionsPerUser}
		if t.Messages != nil {
			r := conv(*t.Messages)
			tier.Messages = &r
		}
		if t.HTTPPerCaller != nil {
			r := conv(*t.HTTPPerCaller)
			tier.HTTPPerCaller = &r
		}
		p.Tiers[name] = tier
	}
	return p
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
	if l.WriteTimeout.Duration < 100*time.Millisecond {
		bad("limits.writeTimeout: must be at least 100ms, got %s", l.WriteTimeout)
	}
	if l.ConnectionsPerSecondPerIP < 0 || l.ConnectionsPerSecondPerIP > 1000000 {
		bad("limits.connectionsPerSecondPerIP: must be from 0 (off) to 1000000, got %d", l.ConnectionsPerSecondPerIP)
	}
	if l.BadRequestsPerSecondPerIP < 0 || l.BadRequestsPerSecondPerIP > 1000000 {
		bad("limits.badRequestsPerSecondPerIP: must be from 0 (off) to 1000000, got %d", l.BadRequestsPerSecondPerIP)
	}
	if l.MaxHeaderBytes < 4<<10 || l.MaxHeaderBytes > 1<<20 {
		bad("limits.maxHeaderBytes: must be from 4096 to 1048576 bytes, got %d", l.MaxHeaderBytes)
	}
	if l.HTTPHeaderTimeout.Duration < 100*time.Millisecond || l.HTTPHeaderTimeout.Duration > l.HTTPReadTimeout.Duration {
		bad("limits.httpHeaderTimeout: must be at least 100ms and at most limits.httpReadTimeout (%s), got %s", l.HTTPReadTimeout, l.HTTPHeaderTimeout)
	}
	if l.HTTPReadTimeout.Duration < time.Second {
		bad("limits.httpReadTimeout: must be at least 1s, got %s", l.HTTPReadTimeout)
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
