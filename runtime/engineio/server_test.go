package engineio

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHandshakePolling(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 300*time.Millisecond, 200*time.Millisecond
	ts := newTestServer(t, cfg)

	resp, body := ts.do(http.MethodGet, ts.url("EIO=4&transport=polling&token=abc"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if !strings.HasPrefix(body, "0{") {
		t.Fatalf("body %q", body)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 5 {
		t.Errorf("handshake fields %v, want exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", fields)
	}
	sid, _ := fields["sid"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`).MatchString(sid) {
		t.Errorf("sid %q is not 20 URL-safe characters", sid)
	}
	if up, _ := json.Marshal(fields["upgrades"]); string(up) != `["websocket"]` {
		t.Errorf("upgrades %s", up)
	}
	if fields["pingInterval"] != 300.0 || fields["pingTimeout"] != 200.0 || fields["maxPayload"] != 1e6 {
		t.Errorf("timing fields %v", fields)
	}

	s := ts.socket()
	if s.ID() != sid || s.Transport() != TransportPolling || ts.srv.Count() != 1 {
		t.Errorf("socket id %q transport %q count %d", s.ID(), s.Transport(), ts.srv.Count())
	}
	if s.Request().URL.Query().Get("token") != "abc" || s.RemoteAddr() == "" {
		t.Errorf("handshake request not kept: %v %q", s.Request().URL, s.RemoteAddr())
	}
	if s.Request().Context().Err() != nil {
		t.Error("kept request context is cancelled")
	}
	// A polling session with no open request holds no goroutine: the only
	// thing Shutdown would wait for is the session itself.
	if n := trackedCount(ts.srv); n != 1 {
		t.Errorf("tracked = %d, want 1 (the session, no goroutine)", n)
	}
}

func trackedCount(srv *Server) int {
	srv.track.mu.Lock()
	defer srv.track.mu.Unlock()
	return srv.track.n
}

func TestHandshakeWebSocket(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	mt, open := readFrame(t, c)
	if mt != websocket.TextMessage || !strings.HasPrefix(open, "0{") {
		t.Fatalf("first frame %d %q", mt, open)
	}
	var hd handshakeData
	if err := json.Unmarshal([]byte(open[1:]), &hd); err != nil {
		t.Fatal(err)
	}
	if hd.Upgrades == nil || len(hd.Upgrades) != 0 || len(hd.SID) != 20 {
		t.Errorf("handshake %+v", hd)
	}
	s := ts.socket()
	if s.Transport() != TransportWebSocket || s.ID() != hd.SID {
		t.Errorf("socket transport %q id %q", s.Transport(), s.ID())
	}

	writeText(t, c, "4hello")
	if mt, got := readFrame(t, c); mt != websocket.TextMessage || got != "4hello" {
		t.Errorf("echo %d %q", mt, got)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if mt, got := readFrame(t, c); mt != websocket.BinaryMessage || got != "\x01\x02\x03\x04" {
		t.Errorf("binary echo %d %q", mt, got)
	}
	// The writer exits once the queue is empty: only the session and its
	// reader remain.
	eventually(t, "writer to exit", func() bool { return trackedCount(ts.srv) == 2 })
}

func TestRequestErrors(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	tests := []struct {
		name, method, query string
		code                int
	}{
		{"missing EIO", http.MethodGet, "transport=polling", 5},
		{"EIO 3", http.MethodGet, "EIO=3&transport=polling", 5},
		{"EIO abc", http.MethodGet, "EIO=abc&transport=polling", 5},
		{"missing transport", http.MethodGet, "EIO=4", 0},
		{"unknown transport", http.MethodGet, "EIO=4&transport=abc", 0},
		{"handshake POST", http.MethodPost, "EIO=4&transport=polling", 2},
		{"handshake PUT", http.MethodPut, "EIO=4&transport=polling", 2},
		{"unknown sid GET", http.MethodGet, "EIO=4&transport=polling&sid=nope", 1},
		{"unknown sid POST", http.MethodPost, "EIO=4&transport=polling&sid=nope", 1},
		{"websocket without upgrade", http.MethodGet, "EIO=4&transport=websocket", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(tt.method, ts.url(tt.query), "4x")
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if e.Code != tt.code || e.Message != errorMessages[errorCode(tt.code)] {
				t.Errorf("error %+v, want code %d", e, tt.code)
			}
		})
	}
	if resp, _ := ts.do(http.MethodGet, ts.hs.URL+"/elsewhere/?EIO=4&transport=polling", ""); resp.StatusCode != http.StatusNotFound {
		// The mux would 404 anyway; check the server's own path check.
		t.Errorf("wrong path status %d", resp.StatusCode)
	}
	if ts.srv.Count() != 0 {
		t.Errorf("failed requests created sessions: %d", ts.srv.Count())
	}
}

func TestServerPathCheck(t *testing.T) {
	srv, err := NewServer(Config{Path: "/rt/", WriteTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/rt/": 200, "/rt": 200, "/other/": 404} {
		rec := newRecorder()
		req, _ := http.NewRequest(http.MethodGet, path+"?EIO=4&transport=polling", nil)
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: status %d, want %d", path, rec.Code, want)
		}
	}
	_ = srv.Shutdown(t.Context())
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Path: "engine.io"},
		{Transports: []string{"flashsocket"}},
		{MaxPayload: -1},
		{PingTimeout: -time.Second},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("NewServer(%+v) succeeded", cfg)
		}
	}
}

func TestTransportsRestricted(t *testing.T) {
	cfg := quietConfig()
	cfg.Transports = []string{TransportPolling}
	ts := newTestServer(t, cfg)
	hd, _ := ts.handshake()
	if len(hd.Upgrades) != 0 {
		t.Errorf("upgrades %v with websocket disabled", hd.Upgrades)
	}
	u := "ws" + strings.TrimPrefix(ts.url("EIO=4&transport=websocket"), "http")
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("websocket dial with websocket disabled: err %v resp %v", err, resp)
	}
}

func TestAuthorize(t *testing.T) {
	cfg := quietConfig()
	cfg.Authorize = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("token") == "good" {
			return true
		}
		http.Error(w, "no", http.StatusUnauthorized)
		return false
	}
	ts := newTestServer(t, cfg)
	if resp, _ := ts.do(http.MethodGet, ts.url("EIO=4&transport=polling&token=bad"), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refused polling handshake status %d", resp.StatusCode)
	}
	u := "ws" + strings.TrimPrefix(ts.url("EIO=4&transport=websocket"), "http")
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refused websocket: err %v resp %v", err, resp)
	}
	if ts.srv.Count() != 0 {
		t.Fatalf("refused handshakes created %d sessions", ts.srv.Count())
	}
	if resp, _ := ts.do(http.MethodGet, ts.url("EIO=4&transport=polling&token=good"), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("allowed handshake status %d", resp.StatusCode)
	}
}

func TestKeepHeaders(t *testing.T) {
	cfg := quietConfig()
	cfg.KeepHeaders = []string{"x-keep"}
	ts := newTestServer(t, cfg)
	req, _ := http.NewRequest(http.MethodGet, ts.url("EIO=4&transport=polling&token=t"), nil)
	req.Header.Set("X-Keep", "yes")
	req.Header.Set("X-Drop", "no")
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := ts.socket()
	h := s.Request().Header
	if h.Get("X-Keep") != "yes" || h.Get("X-Drop") != "" || len(h) != 1 {
		t.Errorf("kept headers %v, want only X-Keep", h)
	}
	if s.Request().URL.Query().Get("token") != "t" {
		t.Errorf("the query was not kept: %v", s.Request().URL)
	}
	s.ForgetRequest()
	if r := s.Request(); len(r.Header) != 0 || r.URL.RawQuery != "" || r.RemoteAddr == "" {
		t.Errorf("after ForgetRequest: header %v, query %q, remote %q", r.Header, r.URL.RawQuery, r.RemoteAddr)
	}
}
