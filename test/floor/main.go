// Command floor is the bare gorilla/websocket floor that the runtime's
// memory per idle connection is held against (docs/benchmarks.md): a
// server that upgrades, answers the load generator's handshake as the
// runtime would ("connected", then an ack for the one subscribe), and
// then parks one goroutine per connection in ReadMessage. It checks no
// token and keeps no state, with the same buffer settings as the runtime
// (a 512-byte read buffer, pooled write buffers), so that what it costs
// is what gorilla/websocket and the Go runtime cost alone. It also serves
// /metrics, for the Go memory figures the load generator reads.
//
//	floor --addr 127.0.0.1:18600 &
//	loadgen --url ws://127.0.0.1:18600/ws --conns 19000 --pid $! --hold 30s
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18600", "where to listen (loopback only)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "floor: --addr %q: want a loopback address and port\n", *addr)
		os.Exit(2)
	}
	up := websocket.Upgrader{ReadBufferSize: 512, WriteBufferPool: &sync.Pool{}, CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go hold(c)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// hold answers the handshake the load generator expects, then reads until
// the client goes.
func hold(c *websocket.Conn) {
	defer c.Close()
	if c.WriteMessage(websocket.TextMessage, []byte(`{"event":"connected"}`)) != nil {
		return
	}
	if _, _, err := c.ReadMessage(); err != nil { // the subscribe
		return
	}
	if c.WriteMessage(websocket.TextMessage, []byte(`{"event":"ack","id":1,"data":{"ok":true}}`)) != nil {
		return
	}
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}
