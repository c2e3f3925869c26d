package engineio

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Errors returned by Socket.Send.
var (
	// ErrQueueFull means the message would push the session's queued bytes
	// past Config.MaxQueueBytes: the client reads slower than it is fed.
	ErrQueueFull = errors.New("engineio: send queue full")
	// ErrClosed means the session is closing or closed.
	ErrClosed = errors.New("engineio: session closed")
)

// Close reasons passed to Socket.OnClose handlers. They are the reference
// server's reasons, so Socket.IO layers can pass them on unchanged.
const (
	ReasonTransportClose = "transport close" // the client closed (close packet, WebSocket closed)
	ReasonTransportError = "transport error" // protocol misuse or a failed read/write
	ReasonPingTimeout    = "ping timeout"    // no pong within PingTimeout
	ReasonParseError     = "parse error"     // the client sent an undecodable packet
	ReasonForcedClose    = "forced close"    // Socket.Close or Socket.Abort
	ReasonServerShutdown = "server shutting down"
)

// errorCode is an Engine.IO handshake/request error. The numbers and
// messages are the reference server's; clients show them to users.
type errorCode int

const (
	errUnknownTransport errorCode = iota
	errUnknownSID
	errBadHandshakeMethod
	errBadRequest
	errForbidden
	errUnsupportedProtocolVersion
)

var errorMessages = map[errorCode]string{
	errUnknownTransport:           "Transport unknown",
	errUnknownSID:                 "Session ID unknown",
	errBadHandshakeMethod:         "Bad handshake method",
	errBadRequest:                 "Bad request",
	errForbidden:                  "Forbidden",
	errUnsupportedProtocolVersion: "Unsupported protocol version",
}

// writeError answers as the reference server does: 400 (403 for Forbidden)
// with a JSON body {"code":N,"message":"..."}.
func writeError(w http.ResponseWriter, code errorCode) {
	status := http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{int(code), errorMessages[code]})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
