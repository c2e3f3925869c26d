package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/socketio"
	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// nodeTimeout is the hard bound on one node script; the scripts end
// themselves after 20s (SIO_TIMEOUT_MS), so this only catches a wedged node.
const nodeTimeout = 40 * time.Second

// echoServer is the echo server on a loopback httptest server, with the
// transports of the handshakes it saw.
type echoServer struct {
	url string
	srv *socketio.Server

	mu         sync.Mutex
	handshakes []string
}

func startEchoServer(t *testing.T) *echoServer {
	t.Helper()
	es := &echoServer{}
	srv, err := newServer(engineio.Config{
		// A short ping interval makes the heartbeat run during each script,
		// over every transport; the timeout leaves node ample time to answer.
		PingInterval: 100 * time.Millisecond,
		PingTimeout:  5 * time.Second,
		Authorize: func(_ http.ResponseWriter, r *http.Request) bool {
			es.mu.Lock()
			es.handshakes = append(es.handshakes, r.URL.Query().Get("transport"))
			es.mu.Unlock()
			return true
		},
	}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	es.url, es.srv = hs.URL, srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return es
}

// waitSessionsEnded checks that the server saw every session end once the
// client is gone: closed by the client, or noticed as a dropped transport.
func (es *echoServer) waitSessionsEnded(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for es.srv.Engine().Count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open after the client ended", es.srv.Engine().Count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (es *echoServer) handshakeTransports() []string {
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([]string(nil), es.handshakes...)
}

// TestEchoWithSocketIOClient runs echo.js, the real socket.io-client, over
// each transport setup: events with and without acks, binary both ways, a
// server-to-client ack, the upgrade, and a server-side disconnect.
func TestEchoWithSocketIOClient(t *testing.T) {
	nodeclient.Install(t)
	for _, tc := range []struct {
		name           string
		namespace      string
		transports     string // SIO_TRANSPORTS; "" is the client's default
		handshake      string // transport of the Engine.IO handshake
		finalTransport string
	}{
		{"websocket only", "/", "websocket", "websocket", "websocket"},
		{"polling then upgrade", "/", "", "polling", "websocket"},
		{"polling only", "/", "polling", "polling", "polling"},
		{"custom namespace", "/custom", "", "polling", "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			es := startEchoServer(t)
			out := nodeclient.MustRun(t, nodeTimeout, "echo.js",
				"SIO_URL="+es.url, "SIO_NAMESPACE="+tc.namespace,
				"SIO_TRANSPORTS="+tc.transports, "SIO_EXPECT_TRANSPORT="+tc.finalTransport)
			checkEchoOutput(t, out, tc.finalTransport)
			es.waitSessionsEnded(t)
			if got := es.handshakeTransports(); !reflect.DeepEqual(got, []string{tc.handshake}) {
				t.Errorf("handshakes %v, want one over %s", got, tc.handshake)
			}
		})
	}
}

func checkEchoOutput(t *testing.T, out nodeclient.Output, finalTransport string) {
	t.Helper()
	connect := out.Step("connect")
	if connect == nil || connect["id"] == "" {
		t.Fatalf("no connect step:\n%s\n%s", out.Stdout, out.Stderr)
	}
	if finalTransport == "websocket" && connect["transport"] != "websocket" && connect["transport"] != "polling" {
		t.Errorf("connected over %v", connect["transport"])
	}
	bin := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	want := map[string]string{
		"echo-ack":           `["hello",42,{"a":[1,"b"],"n":null}]`,
		"echo-binary-ack":    `["bin",{"$bin":"AQID"},{"nested":{"$bin":"BAU="},"s":"x"}]`,
		"echo-emit":          `["no-ack",{"$bin":"` + bin("payload") + `"},[{"$bin":"AA=="},7]]`,
		"server-ack":         `["answer-to","why?",{"$bin":"//4="}]`,
		"echo-after-upgrade": `["again",{"$bin":"Bw=="}]`,
	}
	for step, args := range want {
		line := out.Step(step)
		if line == nil {
			t.Errorf("step %s missing:\n%s\n%s", step, out.Stdout, out.Stderr)
			continue
		}
		var w any
		if err := json.Unmarshal([]byte(args), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(line["args"], w) {
			t.Errorf("step %s: args %v, want %v", step, line["args"], w)
		}
	}
	if l := out.Step("echo-after-upgrade"); l != nil && l["transport"] != finalTransport {
		t.Errorf("final transport %v, want %s", l["transport"], finalTransport)
	}
	if l := out.Step("disconnect"); l == nil || l["reason"] != "io server disconnect" {
		t.Errorf("disconnect step %v, want reason io server disconnect", l)
	}
}

// TestMultiplexWithSocketIOClient joins "/" and "/custom" through one
// Manager: both share one Engine.IO session, and leaving one keeps the other.
func TestMultiplexWithSocketIOClient(t *testing.T) {
	t.Parallel()
	es := startEchoServer(t)
	out := nodeclient.MustRun(t, nodeTimeout, "multiplex.js", "SIO_URL="+es.url)
	c := out.Step("connect")
	who := out.Step("whoami")
	if c == nil || who == nil {
		t.Fatalf("missing steps:\n%s", out.Stdout)
	}
	want := []any{
		[]any{"/", c["root"], c["engine"]},
		[]any{"/custom", c["custom"], c["engine"]},
	}
	if got := []any{who["root"], who["custom"]}; !reflect.DeepEqual(got, want) {
		t.Errorf("whoami %v, want %v", got, want)
	}
	if l := out.Step("after-leave"); l == nil || !reflect.DeepEqual(l["root"], []any{"still-here"}) {
		t.Errorf("after leaving /custom: %v", l)
	}
	if got := es.handshakeTransports(); len(got) != 1 {
		t.Errorf("%d Engine.IO handshakes, want 1 shared session", len(got))
	}
	es.waitSessionsEnded(t)
}

// TestConnectErrorWithSocketIOClient checks the client's connect_error for
// an unknown namespace and for a middleware's refusal.
func TestConnectErrorWithSocketIOClient(t *testing.T) {
	for _, tc := range []struct {
		name, namespace, auth, message string
		data                           any
	}{
		{"unknown namespace", "/nope", "", "Invalid namespace", nil},
		{"refused by middleware", "/guarded", `{"token":"wrong"}`, "not authorized", map[string]any{"code": float64(4001)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			es := startEchoServer(t)
			out := nodeclient.MustRun(t, nodeTimeout, "connect_error.js",
				"SIO_URL="+es.url, "SIO_NAMESPACE="+tc.namespace, "SIO_AUTH="+tc.auth, "SIO_TRANSPORTS=websocket")
			l := out.Step("connect_error")
			if l == nil || l["message"] != tc.message || !reflect.DeepEqual(l["data"], tc.data) {
				t.Fatalf("connect_error %v, want message %q data %v", l, tc.message, tc.data)
			}
			es.waitSessionsEnded(t)
		})
	}
	t.Run("accepted with token", func(t *testing.T) {
		t.Parallel()
		es := startEchoServer(t)
		out, err := nodeclient.Run(t, nodeTimeout, "connect_error.js",
			"SIO_URL="+es.url, "SIO_NAMESPACE=/guarded", `SIO_AUTH={"token":"letmein"}`)
		if l := out.Step("connected"); err == nil || out.ExitCode != 1 || l == nil || l["namespace"] != "/guarded" {
			t.Fatalf("want the script to report a connection (exit 1); err %v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		es.waitSessionsEnded(t)
	})
}

// TestEchoServerProgram runs the built command: it must print its address,
// serve a client, and exit 0 on SIGTERM.
func TestEchoServerProgram(t *testing.T) {
	bin := testproc.Binary(t, "github.com/fleetwire/fleetwire/test/sio/echoserver")
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testproc.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		// Wait only after stdout is drained: Wait closes the pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails harmlessly when it exited already
		<-done
	})
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line; stderr: %s", stderr.String())
	}
	out := nodeclient.MustRun(t, nodeTimeout, "multiplex.js", "SIO_URL="+url)
	if out.Step("after-leave") == nil {
		t.Fatalf("multiplex.js did not finish:\n%s", out.Stdout)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}
