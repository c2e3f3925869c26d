// Package runtimeproc runs real fleetwire-runtime processes on loopback
// for tests that stand them in for a fleet's pods, and opens
// authenticated WebSocket connections to them.
package runtimeproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// Proc is a runtime process listening on Addr.
type Proc struct {
	Port   int
	Addr   string // host:port to reach it on
	Cmd    *exec.Cmd
	secret []byte
	exited chan struct{}
}

// Start runs a runtime process on a free port of every address, with the
// HS256 key secret, in-memory stores, and no drain delay, and waits until
// it is ready. It is killed when the test ends.
func Start(t testing.TB, secret []byte) *Proc {
	t.Helper()
	return StartOn(t, secret, "", redistest.FreePort(t))
}

// StartOn is Start on host (every address when empty) and port, with
// extra environment variables env.
func StartOn(t testing.TB, secret []byte, host string, port int, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/runtime"), "--drain-pre-delay", "0s", "--drain-timeout", "0s")
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("PORT=%d", port), "HOST="+host, "JWT_SECRET="+string(secret), "LOG_LEVEL=error"), env...)
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	p := &Proc{Port: port, Addr: net.JoinHostPort(host, strconv.Itoa(port)), Cmd: cmd, secret: secret, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("runtime %s logs:\n%s", p.Addr, logs.String())
		}
	})
	ready := "http://" + p.Addr + "/health/ready"
	for deadline := time.Now().Add(30 * time.Second); !testproc.Answers200(ready); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime on %s never became ready", p.Addr)
		}
	}
	return p
}

// Stop sends SIGTERM, as Kubernetes does to a deleted pod's container, and
// waits at most 10s for the process to drain and exit.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Connect opens one authenticated WebSocket to p as user and waits for
// the connected event, so the connection is counted when it returns. It
// is closed when the test ends.
func (p *Proc) Connect(t testing.TB, user string) *websocket.Conn {
	t.Helper()
	tok, err := auth.SignHS256(p.secret, auth.TokenRequest{UserID: user, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.Addr+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f struct{ Event string }
	if err := c.ReadJSON(&f); err != nil || f.Event != "connected" {
		t.Fatalf("first frame = %q, %v; want connected", f.Event, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}
