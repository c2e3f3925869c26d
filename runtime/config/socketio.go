package config

import (
	"slices"
	"strings"
	"time"
)

// SocketIO configures the Socket.IO v4 endpoint: Engine.IO protocol 4 and
// Socket.IO protocol 5, as socket.io-client 4.x speaks them.
type SocketIO struct {
	// Enabled serves Socket.IO clients at Path. Default true. Env
	// SOCKETIO_ENABLED.
	Enabled bool `json:"enabled"`
	// Path is where clients connect, the client's `path` option. Default
	// "/socket.io/". Env SOCKETIO_PATH.
	Path string `json:"path,omitempty"`
	// Namespaces are the namespaces clients may connect to, each served
	// like the main one: the same token check, events and messages. A
	// client may join several over one connection (socket.io-client does
	// when it opens io("/a") and io("/b") on one host); each is a session
	// of its own. Others are refused with CONNECT_ERROR "Invalid
	// namespace". Default ["/"]. Env SOCKETIO_NAMESPACES, comma-separated.
	Namespaces []string `json:"namespaces,omitempty"`
	// Transports are the allowed transports: "polling" and "websocket".
	// Default both. Env SOCKETIO_TRANSPORTS, comma-separated.
	Transports []string `json:"transports,omitempty"`
	// PingInterval is how often the server pings each client. Default
	// 25s, as Socket.IO's. Env SOCKETIO_PING_INTERVAL.
	PingInterval Duration `json:"pingInterval,omitempty"`
	// PingTimeout closes a client that has not answered a ping within this
	// long. Default 20s, as Socket.IO's. Env SOCKETIO_PING_TIMEOUT.
	PingTimeout Duration `json:"pingTimeout,omitempty"`
	// MaxHTTPBufferSize bounds one Engine.IO packet or polling request
	// body in bytes; the client learns it as maxPayload. Default
	// 1000000, as Socket.IO's. Env SOCKETIO_MAX_HTTP_BUFFER_SIZE.
	MaxHTTPBufferSize int `json:"maxHttpBufferSize,omitempty"`
	// ConnectTimeout closes an Engine.IO session that has not connected to
	// a namespace within this long. Default 45s, as Socket.IO's.
	ConnectTimeout Duration `json:"connectTimeout,omitempty"`
	// Recovery turns on connection state recovery: a client that drops
	// and comes back within RecoveryWindow gets its channels back and
	// what it missed. Default true. Env SOCKETIO_RECOVERY.
	Recovery bool `json:"recovery"`
	// RecoveryWindow is how long after a drop a client may still recover.
	// Default 2m, as Socket.IO's maxDisconnectionDuration. Env
	// SOCKETIO_RECOVERY_WINDOW.
	RecoveryWindow Duration `json:"recoveryWindow,omitempty"`
}

// Socket.IO transports.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

func defaultSocketIO() SocketIO {
	return SocketIO{
		Enabled:           true,
		Path:              "/socket.io/",
		Namespaces:        []string{"/"},
		Transports:        []string{TransportPolling, TransportWebSocket},
		PingInterval:      Duration{25 * time.Second},
		PingTimeout:       Duration{20 * time.Second},
		MaxHTTPBufferSize: 1_000_000,
		ConnectTimeout:    Duration{45 * time.Second},
		Recovery:          true,
		RecoveryWindow:    Duration{2 * time.Minute},
	}
}

// Polling reports whether the long-polling transport is allowed.
func (s SocketIO) Polling() bool { return slices.Contains(s.Transports, TransportPolling) }

// reservedPaths are the runtime's own HTTP paths, which the Socket.IO
// path must not shadow.
var reservedPaths = []string{"/ws", "/admin", "/health", "/metrics"}

func (c *Config) validateSocketIO(bad func(string, ...any)) {
	s := c.SocketIO
	if !s.Enabled {
		return
	}
	if !strings.HasPrefix(s.Path, "/") || !strings.HasSuffix(s.Path, "/") || len(s.Path) < 3 {
		bad("socketIO.path (SOCKETIO_PATH): must start and end with '/' and name a path, got %q", s.Path)
	}
	for _, p := range reservedPaths {
		if strings.TrimSuffix(s.Path, "/") == p || strings.HasPrefix(s.Path, p+"/") {
			bad("socketIO.path (SOCKETIO_PATH): %q is the runtime's own path %s", s.Path, p)
		}
	}
	if len(s.Namespaces) == 0 {
		bad("socketIO.namespaces (SOCKETIO_NAMESPACES): needs at least one namespace, such as \"/\"")
	}
	for i, n := range s.Namespaces {
		switch {
		case !strings.HasPrefix(n, "/"):
			bad("socketIO.namespaces (SOCKETIO_NAMESPACES): %q must start with '/'", n)
		case strings.ContainsAny(n, ", ?#"):
			bad("socketIO.namespaces (SOCKETIO_NAMESPACES): %q must not contain ',', '?', '#' or spaces", n)
		case slices.Contains(s.Namespaces[:i], n):
			bad("socketIO.namespaces (SOCKETIO_NAMESPACES): %q is listed twice", n)
		}
	}
	if len(s.Transports) == 0 {
		bad("socketIO.transports (SOCKETIO_TRANSPORTS): needs polling, websocket or both")
	}
	for _, t := range s.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			bad("socketIO.transports (SOCKETIO_TRANSPORTS): %q is not polling or websocket", t)
		}
	}
	if s.PingInterval.Duration < 100*time.Millisecond {
		bad("socketIO.pingInterval (SOCKETIO_PING_INTERVAL): must be at least 100ms, got %s", s.PingInterval)
	}
	if s.PingTimeout.Duration < 100*time.Millisecond {
		bad("socketIO.pingTimeout (SOCKETIO_PING_TIMEOUT): must be at least 100ms, got %s", s.PingTimeout)
	}
	if s.MaxHTTPBufferSize < 1024 || s.MaxHTTPBufferSize > 100<<20 {
		bad("socketIO.maxHttpBufferSize (SOCKETIO_MAX_HTTP_BUFFER_SIZE): must be between 1024 and %d bytes, got %d", 100<<20, s.MaxHTTPBufferSize)
	}
	if s.ConnectTimeout.Duration < 100*time.Millisecond {
		bad("socketIO.connectTimeout: must be at least 100ms, got %s", s.ConnectTimeout)
	}
	if s.Recovery && (s.RecoveryWindow.Duration < time.Second || s.RecoveryWindow.Duration > 24*time.Hour) {
		bad("socketIO.recoveryWindow (SOCKETIO_RECOVERY_WINDOW): must be between 1s and 24h, got %s", s.RecoveryWindow)
	}
}

// applySocketIOEnv reads the SOCKETIO_* variables.
func applySocketIOEnv(cfg *Config, env Source, errs *[]error) {
	s := &cfg.SocketIO
	envBool(env, "SOCKETIO_ENABLED", &s.Enabled, errs)
	if v, ok := env("SOCKETIO_PATH"); ok && v != "" {
		s.Path = v
	}
	if v, ok := env("SOCKETIO_NAMESPACES"); ok && v != "" {
		s.Namespaces = splitList(v)
	}
	if v, ok := env("SOCKETIO_TRANSPORTS"); ok && v != "" {
		s.Transports = splitList(v)
	}
	envDuration(env, "SOCKETIO_PING_INTERVAL", &s.PingInterval, errs)
	envDuration(env, "SOCKETIO_PING_TIMEOUT", &s.PingTimeout, errs)
	envInt(env, "SOCKETIO_MAX_HTTP_BUFFER_SIZE", &s.MaxHTTPBufferSize, errs)
	envBool(env, "SOCKETIO_RECOVERY", &s.Recovery, errs)
	envDuration(env, "SOCKETIO_RECOVERY_WINDOW", &s.RecoveryWindow, errs)
}
