package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// refusedWatch follows the requests net/http refuses on its own, without
// handing them to the handler, which it tells no one about. The costly
// one is a request whose headers are over limits.maxHeaderBytes: net/http
// parses up to the limit, answers 431, and keeps the connection half a
// second more so the client can read the answer. A client that does not
// wait for the close sends its next request meanwhile, over a new
// connection.
//
// So a connection counts as unresolved once net/http has read its request
// (StateActive), until the request reaches the handler (within
// microseconds for a good one) or the connection closes. The listener
// holds a token of the address's bad-request bucket for each (see
// ipRateListener.unresolvedRequest), which bounds how many oversized
// requests an address gets parsed however fast it sends them.
//
// A refused request is not counted as a bad request once closed: one that
// a network fault cut short (a reset mid-request, a proxy that hides many
// clients behind one address) looks the same, and must not put the
// address in debt. Connections the client closed before sending anything
// (a TCP health check) are not unresolved at all.
type refusedWatch struct {
	// unresolved adds d (1 or -1) to addr's connections whose request was
	// read but is neither handed to the handler nor closed.
	unresolved func(addr string, d int)

	// conns maps each open connection to its connSeen. A sync.Map: every
	// request of a kept-alive connection looks its connection up, and
	// entries are written once and deleted once.
	conns sync.Map
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

func newRefusedWatch(unresolved func(addr string, d int)) *refusedWatch {
	return &refusedWatch{unresolved: unresolved}
}

// watch sets srv up to report its unresolved connections.
func (w *refusedWatch) watch(srv *http.Server) {
	srv.ConnContext = w.connContext
	srv.ConnState = w.connState
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if seen, ok := r.Context().Value(connSeenKey{}).(*connSeen); ok && seen.served.CompareAndSwap(false, true) {
			w.resolve(seen)
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *refusedWatch) connContext(ctx context.Context, c net.Conn) context.Context {
	seen := &connSeen{c: c}
	w.conns.Store(c, seen)
	return context.WithValue(ctx, connSeenKey{}, seen)
}

func (w *refusedWatch) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateActive:
		v, ok := w.conns.Load(c)
		if seen, _ := v.(*connSeen); ok && !seen.active {
			seen.active = true
			if !seen.served.Load() {
				seen.unresolved = true
				w.unresolved(c.RemoteAddr().String(), 1)
			}
		}
	case http.StateHijacked, http.StateClosed:
		if v, ok := w.conns.LoadAndDelete(c); ok {
			w.resolve(v.(*connSeen))
		}
	}
}

// resolve ends seen's count as unresolved, if it was counted.
func (w *refusedWatch) resolve(seen *connSeen) {
	if seen.unresolved {
		seen.unresolved = false
		w.unresolved(seen.c.RemoteAddr().String(), -1)
	}
}
