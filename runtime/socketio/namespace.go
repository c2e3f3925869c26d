package socketio

import (
	"encoding/json"
	"errors"
	"sync"
)

// Namespace is one Socket.IO namespace ("/" or a name given to Server.Of).
// Its methods are safe for concurrent use; handlers added after a socket
// connected apply to later connections only.
type Namespace struct {
	name string

	mu           sync.RWMutex
	middleware   []func(s *Socket, auth json.RawMessage) error
	onConnection []func(s *Socket)
	pid          func(s *Socket) string
}

// ConnectError refuses a connection from a middleware with a message and
// optional data, which the client receives as the connect_error's message
// and data.
type ConnectError struct {
	Message string
	Data    any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// Name returns the namespace's name, with its leading slash.
func (n *Namespace) Name() string { return n.name }

// Use adds a middleware. Middlewares run in the order added, on every
// CONNECT to this namespace, before it is answered; auth is the CONNECT
// packet's payload (nil when the client sent none). The first error refuses
// the connection with a CONNECT_ERROR: a *ConnectError (also wrapped) gives
// {"message":...,"data":...}, any other error {"message": err.Error()}.
// A middleware may register the socket's event handlers.
func (n *Namespace) Use(mw func(s *Socket, auth json.RawMessage) error) {
	n.mu.Lock()
	n.middleware = append(n.middleware, mw)
	n.mu.Unlock()
}

// OnConnection adds a handler called for each socket that joined, after
// the CONNECT reply {"sid":...} was queued and before any of the socket's
// events is dispatched, so handlers registered in it see every event.
func (n *Namespace) OnConnection(h func(s *Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, h)
	n.mu.Unlock()
}

// UsePID makes the CONNECT reply carry "pid", the private session id of
// the protocol's connection state recovery, as returned by pid (omitted
// when it returns ""). Recovery itself (keeping missed packets and
// restoring them when a client comes back with its pid and offset, found
// in the auth payload) is left to the caller.
func (n *Namespace) UsePID(pid func(s *Socket) string) {
	n.mu.Lock()
	n.pid = pid
	n.mu.Unlock()
}

// admit runs the middlewares for s.
func (n *Namespace) admit(s *Socket, auth json.RawMessage) error {
	n.mu.RLock()
	mws := n.middleware
	n.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s, auth); err != nil {
			return err
		}
	}
	return nil
}

// connectReply is the CONNECT packet's payload for s.
func (n *Namespace) connectReply(s *Socket) json.RawMessage {
	n.mu.RLock()
	pidFn := n.pid
	n.mu.RUnlock()
	reply := struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{SID: s.id}
	if pidFn != nil {
		reply.PID = pidFn(s)
	}
	b, _ := json.Marshal(reply) // two strings: cannot fail
	return b
}

func (n *Namespace) notifyConnection(s *Socket) {
	n.mu.RLock()
	hs := n.onConnection
	n.mu.RUnlock()
	for _, h := range hs {
		h(s)
	}
}

// connectErrorPayload is the CONNECT_ERROR payload for a refusal.
func connectErrorPayload(err error) json.RawMessage {
	payload := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{Message: err.Error()}
	var ce *ConnectError
	if errors.As(err, &ce) {
		payload.Message, payload.Data = ce.Message, ce.Data
	}
	b, mErr := json.Marshal(payload)
	if mErr != nil {
		// Data that does not marshal must not turn a refusal into silence.
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{payload.Message})
	}
	return b
}
