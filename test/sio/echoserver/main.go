// Command echoserver is a Socket.IO server built only from runtime/engineio
// and runtime/socketio, for interoperability tests with the real
// socket.io-client (see test/sio). It listens on --addr (default a free
// loopback port) and prints "listening ADDR" once it accepts connections.
//
// Namespaces "/" and "/custom" answer the events below; "/guarded" does too
// but refuses clients whose auth payload lacks {"token":"letmein"}.
//
//	echo           acks back its arguments (when the client asked for an ack)
//	echo-emit      emits "echo" back with the same arguments
//	ask            emits "question" with the same arguments, asking for an
//	               ack, then emits "answer" with the ack's arguments
//	whoami         acks with the namespace, socket id and Engine.IO session id
//	disconnect-me  disconnects the socket from its namespace
//
// []byte values travel as binary attachments both ways.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// shutdownTimeout bounds the graceful close of open sessions on SIGTERM.
const shutdownTimeout = 5 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	srv, err := newServer(engineio.Config{}, logr.Discard())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("while listening: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("while serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Socket.IO first: its sessions hold hijacked WebSocket connections,
	// which http.Server.Shutdown does not wait for.
	err = errors.Join(srv.Shutdown(sctx), hs.Shutdown(sctx))
	if err != nil {
		return fmt.Errorf("while shutting down: %w", err)
	}
	return nil
}

// newServer builds the echo server. engine is the Engine.IO configuration
// (tests set Authorize to watch handshakes); its Path is the default.
func newServer(engine engineio.Config, log logr.Logger) (*socketio.Server, error) {
	srv, err := socketio.NewServer(socketio.Config{Engine: engine, Logger: log})
	if err != nil {
		return nil, err
	}
	srv.Of("/").OnConnection(handleSocket)
	srv.Of("/custom").OnConnection(handleSocket)
	guarded := srv.Of("/guarded")
	guarded.Use(requireToken)
	guarded.OnConnection(handleSocket)
	return srv, nil
}

// requireToken refuses clients without the expected token, with data the
// client sees as connect_error's err.data.
func requireToken(_ *socketio.Socket, auth json.RawMessage) error {
	var a struct {
		Token string `json:"token"`
	}
	if len(auth) > 0 {
		_ = json.Unmarshal(auth, &a) // a malformed auth is a missing token
	}
	if a.Token != "letmein" {
		return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 4001}}
	}
	return nil
}

func handleSocket(s *socketio.Socket) {
	s.On("echo", func(e *socketio.Event) {
		if e.Ack != nil {
			_ = e.Ack(e.Args...)
		}
	})
	s.On("echo-emit", func(e *socketio.Event) {
		_ = s.Emit("echo", e.Args...)
	})
	s.On("ask", func(e *socketio.Event) {
		_ = s.EmitWithAck(func(answer []any) {
			_ = s.Emit("answer", answer...)
		}, "question", e.Args...)
	})
	s.On("whoami", func(e *socketio.Event) {
		if e.Ack != nil {
			_ = e.Ack(s.Namespace(), s.ID(), s.Conn().ID())
		}
	})
	s.On("disconnect-me", func(*socketio.Event) { s.Disconnect() })
}
