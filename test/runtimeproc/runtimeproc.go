// Package runtimeproc runs real fleetwire-runtime processes on loopback
// for tests that stand them in for a fleet's pods, and opens
// authenticated WebSocket connections to them.
package runtimeproc

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// Proc is a runtime process listening on 127.0.0.1:Port.
type Proc struct {
	Port   int
	Cmd    *exec.Cmd
	secret []byte
}

// Start runs a runtime process on a free port with the HS256 key secret,
// in-memory stores, and no drain delay, and waits until it is ready. It
// is killed when the test ends.
func Start(t testing.TB, secret []byte) *Proc {
	t.Helper()
	port := redistest.FreePort(t)
	cmd := exec.Command(testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/runtime"), "--drain-pre-delay", "0s", "--drain-timeout", "0s")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "JWT_SECRET="+string(secret), "LOG_LEVEL=error")
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("runtime :%d logs:\n%s", port, logs.String())
		}
	})
	ready := fmt.Sprintf("http://127.0.0.1:%d/health/ready", port)
	for deadline := time.Now().Add(30 * time.Second); !testproc.Answers200(ready); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime on :%d never became ready", port)
		}
	}
	return &Proc{Port: port, Cmd: cmd, secret: secret}
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
	c, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/ws?token=%s", p.Port, tok), nil)
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
