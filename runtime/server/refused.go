package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// refusedWatch finds the requests the HTTP server refused on its own,
// without handing them to the handler: malformed requests (400), headers
// over limits.maxHeaderBytes (431), headers slower than
// limits.httpHeaderTimeout. net/http answers those itself and tells no
// one, so the watch follows each connection: one that the client sent
// bytes on, that was never handed to the handler and never hijacked, and
// that then closed, was refused. Each is reported to bad with the
// client's address. A connection the client closed before sending
// anything (a TCP health check) is not reported.
type refusedWatch struct {
	bad func(addr string)

	mu    sync.Mutex
	conns map[net.Conn]*connSeen
}

// connSeen is what the watch knows of one connection.
type connSeen struct {
	served atomic.Bool // a request reached the handler
	active bool        // the client sent bytes; under refusedWatch.mu
}

type connSeenKey struct{}

func newRefusedWatch(bad func(addr string)) *refusedWatch {
	return &refusedWatch{bad: bad, conns: map[net.Conn]*connSeen{}}
}

// watch sets srv up to report the requests it refuses.
func (w *refusedWatch) watch(srv *http.Server) {
	srv.ConnContext = w.connContext
	srv.ConnState = w.connState
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if seen, ok := r.Context().Value(connSeenKey{}).(*connSeen); ok {
			seen.served.Store(true)
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *refusedWatch) connContext(ctx context.Context, c net.Conn) context.Context {
	seen := &connSeen{}
	w.mu.Lock()
	w.conns[c] = seen
	w.mu.Unlock()
	return context.WithValue(ctx, connSeenKey{}, seen)
}

func (w *refusedWatch) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateActive:
		w.mu.Lock()
		if seen := w.conns[c]; seen != nil {
			seen.active = true
		}
		w.mu.Unlock()
	case http.StateHijacked, http.StateClosed:
		w.mu.Lock()
		seen := w.conns[c]
		delete(w.conns, c)
		w.mu.Unlock()
		if state == http.StateClosed && seen != nil && seen.active && !seen.served.Load() {
			w.bad(c.RemoteAddr().String())
		}
	}
}
