package engineio

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// Transport names as they appear in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Defaults applied by NewServer to zero-valued Config fields. They are the
// reference server's defaults, so clients tuned for it behave the same here.
const (
	DefaultPath = "/engine.io/"
	// DefaultPingInterval and DefaultPingTimeout: a client declares the
	// server gone after PingInterval+PingTimeout without a ping, and the
	// server declares the client gone PingTimeout after an unanswered ping.
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultUpgradeTimeout = 10 * time.Second
	DefaultMaxQueueBytes  = 1 << 20
	DefaultWriteTimeout   = 10 * time.Second
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Path the handler is mounted at; default DefaultPath. The caller mounts
	// the handler; requests whose path is not Path (with or without the
	// trailing slash) get 404.
	Path string
	// PingInterval is how often the server sends a ping; default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the client has to answer a ping with a pong
	// before the session closes with reason "ping timeout"; default 20s.
	PingTimeout time.Duration
	// MaxPayload bounds, in bytes, one POST body and one WebSocket frame
	// from the client; announced as maxPayload in the handshake. Default 1e6.
	MaxPayload int
	// EnableCompression negotiates permessage-deflate on the WebSocket
	// transport when the client offers it. Default off: a compressing
	// connection holds a deflate state while it writes.
	EnableCompression bool
	// Transports allowed: "polling" and/or "websocket"; default both.
	Transports []string
	// UpgradeTimeout bounds the polling to WebSocket upgrade; a probe
	// connection that has not sent the upgrade packet by then is dropped and
	// the session stays on polling. Default 10s.
	UpgradeTimeout time.Duration
	// MaxQueueBytes bounds the message bytes queued for one session;
	// Socket.Send returns ErrQueueFull beyond it. Default 1 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds one write to a client (a WebSocket frame or a
	// polling response), and how long a closing polling session waits for
	// the GET that carries its close packet. Default 10s.
	WriteTimeout time.Duration
	// CheckOrigin for the WebSocket upgrade; nil allows every origin (the
	// caller checks origin in Authorize or in a wrapping handler).
	CheckOrigin func(r *http.Request) bool
	// Authorize runs for every request that would create a NEW session
	// (polling GET without sid, or WebSocket without sid), before the
	// session exists. It returns false when it has already written a
	// response (a refusal); the server then does nothing more. Nil allows all.
	Authorize func(w http.ResponseWriter, r *http.Request) bool
	// KeepHeaders lists the handshake request headers a session keeps for
	// Socket.Request; nil keeps them all. Every session holds what it
	// keeps for its whole life, so a server that reads only a few headers
	// saves memory by naming them.
	KeepHeaders []string
	// OnConnection is called once per new session, synchronously, BEFORE any
	// packet of that session is read, so handlers registered inside it see
	// every message.
	OnConnection func(s *Socket)
	// Scheduler runs the sessions' heartbeats: one entry per session, on
	// one goroutine for them all. Nil means the server starts its own
	// with its first session, and Shutdown stops it; a program with a
	// scheduler already passes it.
	Scheduler *schedule.Scheduler
	// Logger receives debug and error logs; default discards.
	Logger logr.Logger
	// OnBadInput, when set, hears the client address (host:port) of each
	// session closed for what its client sent: an undecodable packet, a
	// message or body over MaxPayload, or a Reject by the layer above.
	// Overlapping polls end the session unreported: a network fault can
	// cause them.
	OnBadInput func(remoteAddr string)
}

// withDefaults returns c with every zero field set to its default, and an
// error for values that cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return c, fmt.Errorf("engineio: Path %q must start with /", c.Path)
	}
	c.PingInterval = orDuration(c.PingInterval, DefaultPingInterval)
	c.PingTimeout = orDuration(c.PingTimeout, DefaultPingTimeout)
	c.UpgradeTimeout = orDuration(c.UpgradeTimeout, DefaultUpgradeTimeout)
	c.WriteTimeout = orDuration(c.WriteTimeout, DefaultWriteTimeout)
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.MaxPayload < 0 || c.MaxQueueBytes < 0 {
		return c, fmt.Errorf("engineio: MaxPayload and MaxQueueBytes must not be negative")
	}
	if c.PingInterval < 0 || c.PingTimeout < 0 || c.UpgradeTimeout < 0 || c.WriteTimeout < 0 {
		return c, fmt.Errorf("engineio: durations must not be negative")
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range c.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return c, fmt.Errorf("engineio: unknown transport %q", t)
		}
	}
	if c.Logger.GetSink() == nil {
		c.Logger = logr.Discard()
	}
	return c, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (c *Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
