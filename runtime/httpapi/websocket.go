package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/transport"
)

// The hub keeps native WebSocket connections alive with its heartbeat.
var _ hub.Heartbeater = (*transport.Conn)(nil)

// capacityRetryAfter is the Retry-After sent when the node is full: long
// enough for a load balancer to pick another pod.
const capacityRetryAfter = 5

// handleWebSocket checks origin, capacity and token before upgrading, so a
// refused client gets an HTTP status with a JSON body and never a socket.
func (a *API) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.Origins.Allowed(r) {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("origin").Inc()
		writeError(w, r, newError(http.StatusForbidden, CodeOriginNotAllowed,
			"origin "+r.Header.Get("Origin")+" is not in CORS_ORIGINS"))
		return
	}
	if a.cfg.Health.Draining() {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("draining").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(capacityRetryAfter))
		writeError(w, r, newError(http.StatusServiceUnavailable, CodeShuttingDown, "this node is draining; reconnect to another node"))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, r, newError(http.StatusBadRequest, CodeUpgradeRequired, "this endpoint needs a WebSocket upgrade request"))
		return
	}
	if a.cfg.Hub.Connections() >= a.cfg.MaxConnections {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("capacity").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(capacityRetryAfter))
		writeError(w, r, newError(http.StatusServiceUnavailable, CodeTooManyConns, "this node is at its connection limit; retry, ideally on another node"))
		return
	}
	if aerr := a.limit(w, r, ratelimit.RuleConnectionsPerIP, "ip:"+clientIP(r), a.cfg.Rates.ConnectionsPerIP, "connection attempts from this IP"); aerr != nil {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("rate_limited").Inc()
		writeError(w, r, aerr)
		return
	}
	token, aerr := requestToken(r, true)
	if aerr != nil {
		a.cfg.Metrics.AuthFailures.WithLabelValues(string(auth.ReasonMissing)).Inc()
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("auth").Inc()
		writeError(w, r, aerr)
		return
	}
	claims, err := a.cfg.Verifier.Verify(r.Context(), token)
	if err != nil {
		a.cfg.Metrics.AuthFailures.WithLabelValues(reasonOf(err)).Inc()
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("auth").Inc()
		a.cfg.Logger.Info("websocket authentication failed", "reason", reasonOf(err), "ip", clientIP(r),
			"userAgent", r.UserAgent(), "requestId", requestID(r.Context()))
		writeError(w, r, authError(err))
		return
	}
	if aerr := a.checkUserCap(r, claims); aerr != nil {
		a.cfg.Metrics.ConnectionsRejected.WithLabelValues("user_connections").Inc()
		writeError(w, r, aerr)
		return
	}
	var answer http.Header
	if subprotocolToken(r) != "" {
		answer = http.Header{"Sec-Websocket-Protocol": {SubprotocolName}}
	}
	conn, err := a.cfg.Upgrader.Upgrade(w, r, answer)
	if err != nil {
		// gorilla/websocket has already answered the request.
		a.cfg.Logger.V(1).Info("websocket upgrade failed", "error", err.Error(), "requestId", requestID(r.Context()))
		return
	}
	meta := hub.Meta{ConnID: newConnID(), IP: clientIP(r), UserAgent: r.UserAgent(), RequestID: requestID(r.Context()),
		AckQueued: r.URL.Query().Get("acks") == "1"}
	s, err := a.cfg.Hub.Accept(conn, a.cfg.Codec, claims, meta)
	if err != nil {
		a.cfg.Logger.V(1).Info("session refused", "error", err.Error(), "requestId", meta.RequestID)
		return
	}
	conn.Serve(s.Receive, s.End)
}

// checkUserCap refuses a user already at the per-user connection cap of
// their tier. Concurrent connects of one user can pass together, so the
// cap can be exceeded by the number of connects in flight at once.
func (a *API) checkUserCap(r *http.Request, claims *auth.Claims) *apiError {
	limit := a.cfg.Rates.ConnectionsPerUserFor(claims.Tier)
	if limit <= 0 {
		return nil
	}
	open, err := a.cfg.Hub.UserConnections(r.Context(), claims.UserID())
	if err != nil {
		a.cfg.Logger.Error(err, "presence unavailable for the connection cap")
		return nil
	}
	if open < limit {
		a.cfg.Metrics.RateLimitDecisions.WithLabelValues(ratelimit.RuleConnectionsPerUser, "allowed").Inc()
		return nil
	}
	a.cfg.Metrics.RateLimitDecisions.WithLabelValues(ratelimit.RuleConnectionsPerUser, "blocked").Inc()
	return newError(http.StatusTooManyRequests, CodeTooManyUserConns,
		fmt.Sprintf("user %s already has %d connections, the most allowed; close one first", claims.UserID(), open))
}

func reasonOf(err error) string {
	var ve *auth.VerifyError
	if errors.As(err, &ve) {
		return string(ve.Reason)
	}
	return "unknown"
}

// newConnID returns a 20-character URL-safe connection id, the same length
// as a Socket.IO socket id.
func newConnID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
