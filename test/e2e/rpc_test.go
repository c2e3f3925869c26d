package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// backend is a real HTTP server on loopback standing in for the
// application that handles custom events.
func backend(t *testing.T, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
			User  struct {
				UserID       string   `json:"userId"`
				Roles        []string `json:"roles"`
				Tier         string   `json:"tier"`
				ConnectionID string   `json:"connectionId"`
			} `json:"user"`
		}
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil || r.Header.Get("X-Request-ID") == "" {
			http.Error(w, "bad call", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch call.Event {
		case "request_analysis_status":
			_ = json.NewEncoder(w).Encode(map[string]any{
				"analysisId": json.RawMessage(call.Data), "status": "running",
				"user": call.User.UserID, "tier": call.User.Tier, "conn": call.User.ConnectionID != "",
			})
		case "not_found":
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":{"code":"missing","message":"analysis 42 not found"}}`))
		case "boom":
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"error":{"message":"stack trace: secret internals"}}`))
		case "not_json":
			_, _ = w.Write([]byte(`<html>`))
		case "slow":
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRPCProxy(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	be := backend(t, release)
	n := startNode(t, func(c *config.Config) {
		c.RPCProxy.URL = be.URL
		c.RPCProxy.Timeout = config.Duration{Duration: 500 * time.Millisecond}
		c.RPCProxy.MaxConcurrent = 2
	})
	c := dial(t, n, token(t, auth.TokenRequest{UserID: "alice", Tier: "premium"}))

	t.Run("success becomes the ack", func(t *testing.T) {
		f := c.request("request_analysis_status", "an-123")
		var got map[string]any
		f.decode(t, &got)
		if f.Event != "ack" || got["status"] != "running" || got["analysisId"] != "an-123" || got["user"] != "alice" || got["tier"] != "premium" || got["conn"] != true {
			t.Fatalf("reply %s %s", f.Event, f.Data)
		}
	})
	for _, tc := range []struct{ event, code, message string }{
		{"not_found", "rpc_error", "analysis 42 not found"},
		{"boom", "rpc_error", "the backend refused boom (HTTP 500)"},
		{"not_json", "rpc_error", "the backend's answer to not_json is not JSON"},
		{"slow", "rpc_timeout", "the backend did not answer slow within 500ms"},
	} {
		t.Run(tc.event, func(t *testing.T) {
			c.t = t
			f := c.request(tc.event, nil)
			var e errorData
			f.decode(t, &e)
			if f.Event != "error" || e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("reply %s %s, want %s %q", f.Event, f.Data, tc.code, tc.message)
			}
		})
	}
	t.Run("a slow call does not stall the connection", func(t *testing.T) {
		c.t = t
		c.write(map[string]any{"event": "slow", "id": 1000})
		if f := c.request("ping", nil); f.Event != "ack" {
			t.Fatalf("ping behind a slow call: %s", f.Event)
		}
		f, err := c.next()
		if err != nil || f.ID == nil || *f.ID != 1000 {
			t.Fatalf("slow call's reply: %+v %v", f, err)
		}
	})
	t.Run("concurrency cap", func(t *testing.T) {
		c.t = t
		c.write(map[string]any{"event": "slow", "id": 2000})
		c.write(map[string]any{"event": "slow", "id": 2001})
		f := c.request("request_analysis_status", "x")
		var e errorData
		f.decode(t, &e)
		if f.Event != "error" || e.Code != "rpc_busy" {
			t.Fatalf("third call with two in flight: %s %s", f.Event, f.Data)
		}
		for range 2 {
			if _, err := c.next(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if v := value(t, scrape(t, n), "realtime_rpc_calls_total", map[string]string{"outcome": "ok"}); v != 1 {
		t.Errorf("rpc ok calls = %v", v)
	}
}

func TestRPCBackendUnreachable(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.RPCProxy.URL = "http://127.0.0.1:1" })
	c := dial(t, n, userToken(t, "alice"))
	f := c.request("request_analysis_status", nil)
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "rpc_unavailable" {
		t.Fatalf("reply %s %s", f.Event, f.Data)
	}
}
