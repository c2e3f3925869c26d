package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

// Defaults applied by NewServer to zero-valued Config fields.
const (
	// DefaultPath is where socket.io clients look unless told otherwise.
	DefaultPath = "/socket.io/"
	// DefaultConnectTimeout is the reference server's: long enough for a
	// slow client to load its auth token, short enough that Engine.IO
	// sessions opened by clients that never join a namespace go away.
	DefaultConnectTimeout = 45 * time.Second
)

// Errors returned by Socket methods.
var (
	// ErrDisconnected means the socket left its namespace (or never joined it).
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrReservedEvent means the event name is one the clients reserve
	// ("connect", "connect_error", "disconnect", ...); they would refuse it.
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrAckSent means Event.Ack was called a second time.
	ErrAckSent = errors.New("socketio: ack already sent")
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Engine configures the Engine.IO server underneath. Engine.Path
	// defaults to DefaultPath. Engine.OnConnection belongs to the Socket.IO
	// server: NewServer fails if it is set. Engine.Logger defaults to Logger.
	Engine engineio.Config
	// ConnectTimeout closes an Engine.IO session that has joined no
	// namespace this long after it opened, or that has been in no namespace
	// this long since it left its last one; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger receives debug logs; default discards.
	Logger logr.Logger
}

// Server is a Socket.IO v5 server. Mount it on an HTTP mux at Engine.Path.
type Server struct {
	cfg    Config
	log    logr.Logger
	engine *engineio.Server
	// maxQueueBytes mirrors the engine's bound so that a packet with
	// attachments is either queued whole or refused whole.
	maxQueueBytes int
	// maxAttachmentBytes bounds the attachments of one incoming packet.
	maxAttachmentBytes int

	mu         sync.Mutex
	namespaces map[string]*Namespace
}

// NewServer returns a Server for cfg with defaults applied. The namespace
// "/" exists from the start.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Engine.OnConnection != nil {
		return nil, errors.New("socketio: Config.Engine.OnConnection must be nil: the Socket.IO server owns it")
	}
	if cfg.ConnectTimeout < 0 {
		return nil, errors.New("socketio: ConnectTimeout must not be negative")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	if cfg.Engine.Path == "" {
		cfg.Engine.Path = DefaultPath
	}
	if cfg.Engine.Logger.GetSink() == nil {
		cfg.Engine.Logger = cfg.Logger.WithName("engineio")
	}
	s := &Server{
		cfg:                cfg,
		log:                cfg.Logger,
		maxQueueBytes:      orInt(cfg.Engine.MaxQueueBytes, engineio.DefaultMaxQueueBytes),
		maxAttachmentBytes: orInt(cfg.Engine.MaxPayload, engineio.DefaultMaxPayload),
		namespaces:         make(map[string]*Namespace),
	}
	cfg.Engine.OnConnection = s.onEngineConnection
	engine, err := engineio.NewServer(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("socketio: while creating the Engine.IO server: %w", err)
	}
	s.engine = engine
	s.Of("/")
	return s, nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// ServeHTTP serves the Engine.IO transports that carry Socket.IO.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Engine returns the Engine.IO server underneath, for its session count.
func (s *Server) Engine() *engineio.Server { return s.engine }

// Shutdown refuses new sessions, closes every session and waits until
// every socket's OnDisconnect handlers ("server shutting down") returned,
// or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.engine.Shutdown(ctx); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	return nil
}

// Of returns the namespace name, creating it if needed. A name without a
// leading slash gets one, as in the reference server ("chat" is "/chat").
func (s *Server) Of(name string) *Namespace {
	name = normalizeNamespace(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.namespaces[name]
	if !ok {
		n = &Namespace{name: name}
		s.namespaces[name] = n
	}
	return n
}

func normalizeNamespace(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

func (s *Server) lookup(name string) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namespaces[name]
}

// onEngineConnection wires a new Engine.IO session. The engine calls it
// before reading the session's first packet.
func (s *Server) onEngineConnection(eio *engineio.Socket) {
	c := &conn{
		srv: s,
		eio: eio,
	}
	c.armIdleTimerLocked() // no other goroutine knows c yet
	eio.Handle(c)
}

// newSocketID returns 20 URL-safe characters from 120 random bits, the
// shape of the reference server's ids.
func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
