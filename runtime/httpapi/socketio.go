package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/schedule"
	"github.com/fleetwire/fleetwire/runtime/sioconn"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// SocketIOConfig serves Socket.IO v4 clients. Zero values mean the
// engineio and socketio packages' defaults, which are Socket.IO's own.
type SocketIOConfig struct {
	// Path is where clients connect. Default "/socket.io/".
	Path string
	// Namespaces are served alike: each CONNECT to one is authenticated
	// and becomes a hub session. Others are refused. Default ["/"].
	Namespaces     []string
	Transports     []string
	PingInterval   time.Duration
	PingTimeout    time.Duration
	MaxPayload     int
	ConnectTimeout time.Duration
	// MaxQueueBytes and WriteTimeout are the same limits as the WebSocket
	// transport's.
	MaxQueueBytes int
	WriteTimeout  time.Duration
	// MaxMessageBytes bounds one client event, as limits.maxMessageBytes
	// bounds a native frame. Default 64 KiB.
	MaxMessageBytes int
	// ObserveDelivery is called with each written message's delivery delay.
	ObserveDelivery func(time.Duration)
	// Compression negotiates permessage-deflate on the WebSocket
	// transport, as transport.compression does for native connections.
	Compression bool
	// Recovery turns on connection state recovery: the CONNECT reply
	// carries a pid, and a client that comes back with it and its offset
	// takes its earlier session over (see hub.PlanRecovery).
	Recovery bool
	// Scheduler runs the Engine.IO heartbeats; nil gives the endpoint its own.
	Scheduler *schedule.Scheduler
	// OnBadInput hears the client address of each session closed for what
	// its client sent (engineio.Config.OnBadInput).
	OnBadInput func(remoteAddr string)
}

// socketIO is the runtime's Socket.IO endpoint: Engine.IO sessions are
// admitted like WebSocket upgrades (origin, drain, capacity, per-IP rate),
// and a CONNECT to the main namespace is authenticated like one, then
// becomes a hub session.
type socketIO struct {
	api     *API
	cfg     SocketIOConfig
	server  *socketio.Server
	connCfg sioconn.Config // shared by every session's Conn
}

// admission is what authenticate decided for a socket that connect then
// turns into a session. It travels as the socket's data, so a socket that
// never connects takes it along when it goes.
type admission struct {
	claims    *auth.Claims
	pid       string        // the recovery id the CONNECT reply carries
	plan      *hub.Recovery // the earlier session taken over, if any
	recovered bool          // nothing was missed: pid is the earlier one
}

func (a *API) newSocketIO(cfg SocketIOConfig) (*socketIO, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{"/"}
	}
	e := &socketIO{api: a, cfg: cfg, connCfg: sioconn.Config{
		ObserveDelivery: cfg.ObserveDelivery,
		MaxMessageBytes: cfg.MaxMessageBytes,
		Multiplexed:     len(cfg.Namespaces) > 1,
	}}
	srv, err := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{
			Path:          cfg.Path,
			PingInterval:  cfg.PingInterval,
			PingTimeout:   cfg.PingTimeout,
			MaxPayload:    cfg.MaxPayload,
			Transports:    cfg.Transports,
			MaxQueueBytes: cfg.MaxQueueBytes,
			WriteTimeout:  cfg.WriteTimeout,
			// Compression is negotiated when the client offers it.
			EnableCompression: cfg.Compression,
			// The origin is checked in Authorize, with a JSON answer.
			CheckOrigin: func(*http.Request) bool { return true },
			Authorize:   e.admit,
			// What authenticate and connect read of the handshake.
			KeepHeaders: []string{"Authorization", "User-Agent"},
			Scheduler:   cfg.Scheduler,
			Logger:      a.cfg.Logger.WithName("engineio"),
			OnBadInput:  cfg.OnBadInput,
		},
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         a.cfg.Logger.WithName("socketio"),
	})
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.Namespaces {
		nsp := srv.Of(name)
		nsp.Use(e.authenticate)
		if cfg.Recovery {
			nsp.UsePID(e.pidOf)
		}
		nsp.OnConnection(e.connect)
	}
	e.server = srv
	return e, nil
}

// admit runs before an Engine.IO session exists, with the same checks as
// a WebSocket upgrade, and answers a refusal with a JSON error.
func (e *socketIO) admit(w http.ResponseWriter, r *http.Request) bool {
	a := e.api
	refuse := func(reason string, err *apiError) bool {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues(reason).Inc()
		writeError(w, r, err)
		return false
	}
	if !a.cfg.Origins.Allowed(r) {
		return refuse("origin", newError(http.StatusForbidden, CodeOriginNotAllowed,
			"origin "+r.Header.Get("Origin")+" is not in CORS_ORIGINS"))
	}
	if a.cfg.Health.Draining() {
		w.Header().Set("Retry-After", strconv.Itoa(capacityRetryAfter))
		return refuse("draining", newError(http.StatusServiceUnavailable, CodeShuttingDown, "this node is draining; reconnect to another node"))
	}
	if a.cfg.Hub.Connections() >= a.cfg.MaxConnections {
		w.Header().Set("Retry-After", strconv.Itoa(capacityRetryAfter))
		return refuse("capacity", newError(http.StatusServiceUnavailable, CodeTooManyConns, "this node is at its connection limit; retry, ideally on another node"))
	}
	if aerr := a.limit(w, r, ratelimit.RuleConnectionsPerIP, "ip:"+clientIP(r), a.cfg.Rates.ConnectionsPerIP, "connection attempts from this IP"); aerr != nil {
		return refuse("rate_limited", aerr)
	}
	return true
}

// connectAuth is the CONNECT payload: the client's `auth` option, plus
// the pid and offset socket.io-client adds when it reconnects after a
// CONNECT reply that carried a pid.
type connectAuth struct {
	Token  string `json:"token"`
	PID    string `json:"pid"`
	Offset string `json:"offset"`
}

// authenticate verifies the token of a CONNECT to the main namespace: from
// the `auth` payload as the replaced service read it, else from the
// handshake's Authorization header or ?token=. A refusal is CONNECT_ERROR
// {message, data: {code}} with the same codes as the HTTP 401 body.
func (e *socketIO) authenticate(s *socketio.Socket, payload json.RawMessage) error {
	a := e.api
	req := s.Conn().Request()
	var ca connectAuth
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &ca) // a payload without a token string falls back to the request
	}
	token := ca.Token
	if token == "" {
		token = auth.TokenFromRequest(req)
	}
	claims, err := a.cfg.Verifier.Verify(req.Context(), token)
	if err != nil {
		a.cfg.Metrics.AuthFailures.WithLabelValues(reasonOf(err)).Inc()
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("auth").Inc()
		a.cfg.Logger.Info("socket.io authentication failed", "reason", reasonOf(err), "ip", clientIP(req), "userAgent", req.UserAgent())
		return connectError(authError(err))
	}
	if aerr := a.checkUserCap(req, claims); aerr != nil {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("user_connections").Inc()
		return connectError(aerr)
	}
	adm := &admission{claims: claims}
	if e.cfg.Recovery {
		adm.plan, adm.recovered = a.cfg.Hub.PlanRecovery(req.Context(), ca.PID, claims.UserID(), ca.Offset)
		adm.pid = ca.PID
		if !adm.recovered {
			adm.pid = newConnID() // a new id: the client must not believe it recovered
		}
	}
	s.SetData(adm)
	return nil
}

// pidOf is the pid of the CONNECT reply.
func (e *socketIO) pidOf(s *socketio.Socket) string {
	if adm, _ := s.Data().(*admission); adm != nil {
		return adm.pid
	}
	return ""
}

// take removes and returns the admission of s.
func take(s *socketio.Socket) *admission {
	adm, _ := s.Data().(*admission)
	s.SetData(nil)
	return adm
}

func connectError(err *apiError) *socketio.ConnectError {
	return &socketio.ConnectError{Message: err.detail.Message, Data: map[string]string{"code": err.detail.Code}}
}

// connect makes the admitted socket a hub session: "connected", then the
// offline queue, then its events through the hub's event table.
func (e *socketIO) connect(s *socketio.Socket) {
	adm := take(s)
	if adm == nil {
		s.Disconnect() // cannot happen: authenticate admitted it
		return
	}
	req := s.Conn().Request()
	conn := sioconn.New(s, &e.connCfg)
	// The Engine.IO session id stands in for the request id: it is what
	// the engine's own log lines carry.
	meta := hub.Meta{ConnID: s.ID(), IP: clientIP(req), UserAgent: req.UserAgent(), RequestID: s.Conn().ID(),
		AckQueued: req.URL.Query().Get("acks") == "1", RecoveryID: adm.pid, Recover: adm.plan, Recovered: adm.recovered}
	if !e.connCfg.Multiplexed {
		// No other namespace can be joined, so nothing reads the
		// handshake again.
		s.Conn().ForgetRequest()
	}
	sess, err := e.api.cfg.Hub.Accept(conn, codecOf(s), adm.claims, meta)
	if err != nil {
		e.api.cfg.Logger.V(1).Info("session refused", "error", err.Error())
		return
	}
	// This runs on the goroutine that reads the client, so no event or
	// acknowledgement can arrive before the session has them.
	conn.Bind(sess)
}

// codecOf is the codec of the socket's namespace; the main namespace's
// is the zero Codec.
func codecOf(s *socketio.Socket) sioconn.Codec {
	if s.Namespace() == "/" {
		return sioconn.Codec{}
	}
	return sioconn.Codec{Namespace: s.Namespace()}
}

// shutdown ends the Engine.IO sessions that are left, which returns their
// pending long-polls, so the HTTP server can stop.
func (e *socketIO) shutdown(ctx context.Context) error { return e.server.Shutdown(ctx) }

// path is the mux pattern of the endpoint: its path and everything under.
func (e *socketIO) path() string {
	if e.cfg.Path == "" {
		return socketio.DefaultPath
	}
	return e.cfg.Path
}
