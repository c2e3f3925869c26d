package engineio

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestUpgradeSequence follows the spec's upgrade: probe, noop to the
// pending GET, messages queued meanwhile, upgrade packet, then WebSocket.
func TestUpgradeSequence(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	pending := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending", pollPending(s))

	c := ts.dial("EIO=4&transport=websocket&sid=" + hd.SID)
	writeText(t, c, "2probe")
	if _, got := readFrame(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if code, body := awaitGet(t, pending); code != "200" || body != "6" {
		t.Fatalf("pending GET during upgrade: %s %q, want noop", code, body)
	}
	// A GET during the upgrade returns at once rather than long-polling.
	if code, body := ts.get(hd.SID); code != 200 || body != "6" {
		t.Fatalf("GET during upgrade: %d %q", code, body)
	}
	if s.Transport() != TransportPolling {
		t.Fatalf("transport %q before the upgrade packet", s.Transport())
	}
	// Queued while the client has paused polling and not yet sent "5".
	for _, m := range []Message{{Data: []byte("m1")}, {Data: []byte{9, 8}, Binary: true}, {Data: []byte("m2")}} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	writeText(t, c, "5")
	want := []struct {
		mt   int
		data string
	}{{websocket.TextMessage, "4m1"}, {websocket.BinaryMessage, "\x09\x08"}, {websocket.TextMessage, "4m2"}}
	for _, w := range want {
		if mt, got := readFrame(t, c); mt != w.mt || got != w.data {
			t.Fatalf("frame %d %q, want %d %q", mt, got, w.mt, w.data)
		}
	}
	if s.Transport() != TransportWebSocket {
		t.Errorf("transport %q after upgrade", s.Transport())
	}
	// Polling is over for this session, and so is a second upgrade.
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after upgrade: %d", code)
	}
	u := "ws" + strings.TrimPrefix(ts.url("EIO=4&transport=websocket&sid="+hd.SID), "http")
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second upgrade: %v", err)
	}
	writeText(t, c, "4hello")
	if _, got := readFrame(t, c); got != "4hello" {
		t.Errorf("echo over upgraded transport %q", got)
	}
}

// TestUpgradeLosesNothing sends a numbered stream while a client that
// behaves like engine.io-client upgrades: it polls in a loop, pauses after
// "3probe" once its GET returns, then sends "5". Every message must arrive
// exactly once, in order, over one transport or the other.
func TestUpgradeLosesNothing(t *testing.T) {
	const total = 300
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()

	var mu sync.Mutex
	var received []string
	var paused atomic.Bool
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for !paused.Load() {
			resp, err := ts.client.Get(ts.pollURL(hd.SID))
			if err != nil {
				t.Errorf("poll: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, p := range strings.Split(string(b), "\x1e") {
				if strings.HasPrefix(p, "4") {
					mu.Lock()
					received = append(received, p[1:])
					mu.Unlock()
				}
			}
		}
	}()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := 0; i < total; i++ {
			if err := s.Send(Message{Data: []byte(strconv.Itoa(i))}); err != nil {
				t.Errorf("Send %d: %v", i, err)
				return
			}
			if i%20 == 0 {
				time.Sleep(time.Millisecond) // spread sends across the upgrade
			}
		}
	}()

	c := ts.dial("EIO=4&transport=websocket&sid=" + hd.SID)
	writeText(t, c, "2probe")
	if _, got := readFrame(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	paused.Store(true)
	<-pollDone
	writeText(t, c, "5")
	<-sendDone
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= total {
			break
		}
		_, f := readFrame(t, c)
		if strings.HasPrefix(f, "4") {
			mu.Lock()
			received = append(received, f[1:])
			mu.Unlock()
		}
	}
	for i, r := range received {
		if r != strconv.Itoa(i) {
			t.Fatalf("message %d is %q (received %d in all)", i, r, len(received))
		}
	}
	if len(received) != total {
		t.Fatalf("received %d, want %d", len(received), total)
	}
}

func TestUpgradeTimeoutKeepsPolling(t *testing.T) {
	cfg := quietConfig()
	cfg.UpgradeTimeout = 100 * time.Millisecond
	ts := newTestServer(t, cfg)
	hd, s := ts.handshake()

	c := ts.dial("EIO=4&transport=websocket&sid=" + hd.SID)
	writeText(t, c, "2probe")
	if _, got := readFrame(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	// No "5": the server drops the probe and the session stays on polling.
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("probe not closed")
	}
	eventually(t, "probe to be dropped", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll.probe == nil && !s.poll.upgrading
	})
	if s.Transport() != TransportPolling || s.Closed() {
		t.Fatalf("transport %q closed %v", s.Transport(), s.Closed())
	}
	pending := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending again", pollPending(s))
	if err := s.Send(Message{Data: []byte("still here")}); err != nil {
		t.Fatal(err)
	}
	if code, body := awaitGet(t, pending); code != "200" || body != "4still here" {
		t.Errorf("GET after failed upgrade: %s %q", code, body)
	}
}

func TestUpgradeBadProbeKeepsPolling(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	c := ts.dial("EIO=4&transport=websocket&sid=" + hd.SID)
	writeText(t, c, "4not a probe")
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("probe not closed")
	}
	if s.Closed() || s.Transport() != TransportPolling {
		t.Errorf("session closed %v transport %q", s.Closed(), s.Transport())
	}
	if code, body := ts.post(hd.SID, "4x"); code != 200 || body != "ok" {
		t.Errorf("POST after bad probe: %d %q", code, body)
	}
}

func TestUpgradeUnknownSID(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	u := "ws" + strings.TrimPrefix(ts.url("EIO=4&transport=websocket&sid=nope"), "http")
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("upgrade with unknown sid: %v", err)
	}
}

func TestCloseDuringUpgrade(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	c := ts.dial("EIO=4&transport=websocket&sid=" + hd.SID)
	writeText(t, c, "2probe")
	readFrame(t, c)
	s.Abort()
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("probe not closed with the session")
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
}
