package e2e

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// dropProxy forwards loopback TCP connections to a runtime, and can cut
// them all at once, hold new ones off, and send later ones to another
// node: a network drop, and the load balancer picking another pod.
type dropProxy struct {
	ln net.Listener

	mu      sync.Mutex
	backend string // host:port
	down    bool   // new connections are closed at once
	conns   map[net.Conn]struct{}
	// watch, when set, is counted in every chunk a backend sends back.
	watch string
	seen  int
	// swallow discards what backends send instead of forwarding it: the
	// server's writes succeed, and the client never reads them.
	swallow bool
}

func startDropProxy(t *testing.T, backend string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.drop()
	})
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend, down := p.backend, p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		go p.forward(c, backend)
	}
}

func (p *dropProxy) forward(c net.Conn, backend string) {
	b, err := net.Dial("tcp", backend)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[b] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst io.Writer, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(&watcher{Writer: c, p: p}, b)
	<-done
	_, _ = c.Close(), b.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// watcher counts, in what a backend sends, the proxy's watched string.
type watcher struct {
	io.Writer
	p *dropProxy
}

func (w *watcher) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	if w.p.watch != "" {
		w.p.seen += strings.Count(string(b), w.p.watch)
	}
	swallow := w.p.swallow
	w.p.mu.Unlock()
	if swallow {
		return len(b), nil
	}
	return w.Writer.Write(b)
}

// swallowReplies makes the proxy discard what backends send from now on
// (true), or forward it again (false).
func (p *dropProxy) swallowReplies(on bool) {
	p.mu.Lock()
	p.swallow = on
	p.mu.Unlock()
}

// watchFor starts counting s in the backends' answers.
func (p *dropProxy) watchFor(s string) {
	p.mu.Lock()
	p.watch, p.seen = s, 0
	p.mu.Unlock()
}

// watched returns how often the watched string went by.
func (p *dropProxy) watched() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// drop cuts every forwarded connection, both ways, without a close
// handshake of either protocol.
func (p *dropProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// setDown holds new connections off (true) or lets them through (false).
func (p *dropProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// route sends new connections to backend.
func (p *dropProxy) route(backend string) {
	p.mu.Lock()
	p.backend = backend
	p.mu.Unlock()
}
