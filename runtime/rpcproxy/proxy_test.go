package rpcproxy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// TestForward runs calls against a real HTTP backend and checks what the
// client is given for each kind of answer: the backend's JSON, or an
// error with a stable code whose message names the event and says
// nothing of the backend's own failures.
func TestForward(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	type received struct {
		call      Call
		requestID string
	}
	calls := make(chan received, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var got Call
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("the backend got %q: %v", body, err)
		}
		calls <- received{got, r.Header.Get("X-Request-ID")}
		switch got.Event {
		case "ok":
			_, _ = io.WriteString(w, `{"total": 3}`)
		case "empty":
		case "refused":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"error": {"code": "bad_cart", "message": "the cart is empty"}}`)
		case "failed":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error": {"message": "db password rejected"}}`)
		case "not_json":
			_, _ = io.WriteString(w, `total: 3`)
		case "large":
			_, _ = io.WriteString(w, `"`+strings.Repeat("x", 100)+`"`)
		case "slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer backend.Close()
	p, err := New(Config{URL: backend.URL, Timeout: 200 * time.Millisecond, MaxResponseBytes: 64})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		event    string
		want     string        // the answer, when there is no error
		code     protocol.Code // else the error's code
		message  string        // and its message
		noDetail string        // a backend detail the message must not carry
	}{
		{event: "ok", want: `{"total": 3}`},
		{event: "empty", want: `null`},
		{event: "refused", code: CodeFailed, message: "the cart is empty"},
		{event: "failed", code: CodeFailed, message: "the backend refused failed (HTTP 500)", noDetail: "password"},
		{event: "not_json", code: CodeFailed, message: "the backend's answer to not_json is not JSON"},
		{event: "large", code: CodeFailed, message: "the backend's answer to large is larger than 64 bytes"},
		{event: "slow", code: CodeTimeout, message: "the backend did not answer slow within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			user := Caller{UserID: "alice", Roles: []string{"admin"}, ConnectionID: "c1"}
			answer, perr := p.Forward(context.Background(), Call{Event: tt.event, Data: json.RawMessage(`{"n":1}`), User: user}, "req-"+tt.event)
			got := <-calls
			if c := got.call; c.Event != tt.event || string(c.Data) != `{"n":1}` || c.User.UserID != "alice" || c.User.ConnectionID != "c1" || got.requestID != "req-"+tt.event {
				t.Errorf("the backend got %+v with X-Request-ID %q", c, got.requestID)
			}
			if tt.code == "" {
				if perr != nil || string(answer) != tt.want {
					t.Fatalf("answer %s, error %v; want %s", answer, perr, tt.want)
				}
				return
			}
			if perr == nil || perr.Code != tt.code || perr.Message != tt.message {
				t.Fatalf("answer %s, error %+v; want %s %q", answer, perr, tt.code, tt.message)
			}
			if tt.noDetail != "" && strings.Contains(perr.Message, tt.noDetail) {
				t.Errorf("the message shows the backend's detail: %q", perr.Message)
			}
		})
	}
}

// TestForwardToNoBackend: a backend that cannot be reached gives
// rpc_unavailable, and a call without data is sent with null.
func TestForwardToNoBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := New(Config{URL: "http://" + addr + "/rpc"})
	if err != nil {
		t.Fatal(err)
	}
	_, perr := p.Forward(context.Background(), Call{Event: "checkout"}, "r")
	if perr == nil || perr.Code != CodeUnavailable || perr.Message != "the backend for checkout could not be reached" {
		t.Fatalf("error %+v, want rpc_unavailable", perr)
	}
}

// TestSlots: calls past MaxConcurrent are refused at once, and a released
// slot can be taken again.
func TestSlots(t *testing.T) {
	p, err := New(Config{URL: "http://127.0.0.1:1/", MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if !p.TryAcquire() {
			t.Fatalf("slot %d of 2 was refused", i+1)
		}
	}
	if p.TryAcquire() {
		t.Fatal("a third slot was given with MaxConcurrent 2")
	}
	p.Release()
	if !p.TryAcquire() {
		t.Fatal("a released slot was not given again")
	}
	if e := BusyError(); e.Code != CodeBusy {
		t.Errorf("BusyError code %q", e.Code)
	}
}

func TestNewNeedsAURL(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "URL is required") {
		t.Fatalf("New without a URL: %v", err)
	}
}
