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
//
// net/http closes a refused connection only half a second after its
// answer, to let the client read it, and a client that does not wait for
// the close sends its next request meanwhile. So a connection is also
// reported as unresolved once its request has been read (net/http's
// StateActive), until it is handed to the handler (within microseconds)
// or closes: the listener counts unresolved connections against the
// address's bucket, so a burst of refusals is bounded before they are
// counted.
type refusedWatch struct {
	bad func(addr string)
	// unresolved adds d (1 or -1) to addr's connections that are neither
	// handed to the handler nor closed.
	unresolved func(addr string, d int)

	mu    sync.Mutex
	conns map[net.Conn]*connSeen
}

// connSeen is what the watch knows of one connection. Its hooks and
// its first request run on the connection's own goroutine, in order.
type connSeen struct {
	c          net.Conn
	served     atomic.Bool // a request reached the handler
	active     bool        // the client sent bytes
	unresolved bool        // counted by refusedWatch.unresolved
}

type connSeenKey struct{}

func newRefusedWatch(bad func(addr string), unresolved func(addr string, d int)) *refusedWatch {
	return &refusedWatch{bad: bad, unresolved: unresolved, conns: map[net.Conn]*connSeen{}}
}

// watch sets srv up to report the requests it refuses.
func (w *refusedWatch) watch(srv *http.Server) {
	srv.ConnContext = w.connContext
	srv.ConnState = w.connState
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if seen, ok := r.Context().Value(connSeenKey{}).(*connSeen); ok && seen.served.CompareAndSwap(false, true) && seen.unresolved {
			seen.unresolved = false
			w.unresolved(seen.c.RemoteAddr().String(), -1)
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *refusedWatch) connContext(ctx context.Context, c net.Conn) context.Context {
	seen := &connSeen{c: c}
	w.mu.Lock()
	w.conns[c] = seen
	w.mu.Unlock()
	return context.WithValue(ctx, connSeenKey{}, seen)
}

func (w *refusedWatch) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateActive:
		w.mu.Lock()
		seen := w.conns[c]
		w.mu.Unlock()
		if seen != nil && !seen.active {
			seen.active = true
			if !seen.served.Load() {
				seen.unresolved = true
				w.unresolved(c.RemoteAddr().String(), 1)
			}
		}
	case http.StateHijacked, http.StateClosed:
		w.mu.Lock()
		seen := w.conns[c]
		delete(w.conns, c)
		w.mu.Unlock()
		if seen == nil {
			return
		}
		if seen.unresolved {
			seen.unresolved = false
			w.unresolved(c.RemoteAddr().String(), -1)
		}
		if state == http.StateClosed && seen.active && !seen.served.Load() {
			w.bad(c.RemoteAddr().String())
		}
	}
}
