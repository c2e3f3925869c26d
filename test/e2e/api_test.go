package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
)

func TestAPIValidationErrors(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.MaxBodyBytes = 2048
		c.Limits.MaxBulkUsers = 3
	})
	svc := serviceToken(t)
	plain := userToken(t, "alice")
	big := `{"type":"notification","payload":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       any
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"no token", "POST", "/ws/send/alice", "", map[string]any{"type": "notification"}, 401, "token_missing", ""},
		{"bad token", "POST", "/ws/send/alice", "abc", map[string]any{"type": "notification"}, 401, "token_malformed", ""},
		{"user token lacks role", "POST", "/ws/send/alice", plain, map[string]any{"type": "notification"}, 403, "forbidden", ""},
		{"missing type", "POST", "/ws/send/alice", svc, map[string]any{"payload": 1}, 400, "validation_failed", "type"},
		{"type with spaces", "POST", "/ws/send/alice", svc, map[string]any{"type": "bad type"}, 400, "validation_failed", "type"},
		{"reserved type", "POST", "/ws/send/alice", svc, map[string]any{"type": "error"}, 400, "validation_failed", "type"},
		{"bad priority", "POST", "/ws/send/alice", svc, map[string]any{"type": "notification", "priority": "urgent"}, 400, "validation_failed", "priority"},
		{"type not a string", "POST", "/ws/send/alice", svc, map[string]any{"type": 5}, 400, "validation_failed", "type"},
		{"invalid JSON", "POST", "/ws/send/alice", svc, `{"type":`, 400, "invalid_json", ""},
		{"trailing data", "POST", "/ws/send/alice", svc, `{"type":"a"} {}`, 400, "invalid_json", ""},
		{"array body", "POST", "/ws/send/alice", svc, `[1]`, 400, "invalid_json", ""},
		{"body too large", "POST", "/ws/send/alice", svc, big, 413, "body_too_large", ""},
		{"bulk without users", "POST", "/ws/send/bulk", svc, map[string]any{"type": "n"}, 400, "validation_failed", "userIds"},
		{"bulk too many users", "POST", "/ws/send/bulk", svc, map[string]any{"type": "n", "userIds": []string{"a", "b", "c", "d"}}, 400, "validation_failed", "userIds"},
		{"bulk empty user id", "POST", "/ws/send/bulk", svc, map[string]any{"type": "n", "userIds": []string{"a", ""}}, 400, "validation_failed", "userIds[1]"},
		{"publish without channel", "POST", "/ws/publish", svc, map[string]any{"type": "n"}, 400, "validation_failed", "channel"},
		{"publish bad channel", "POST", "/ws/publish", svc, map[string]any{"type": "n", "channel": "a b"}, 400, "validation_failed", "channel"},
		{"broadcast missing type", "POST", "/ws/broadcast", svc, map[string]any{}, 400, "validation_failed", "type"},
		{"queue bad limit", "GET", "/ws/queue/alice?limit=0", svc, nil, 400, "validation_failed", "limit"},
		{"revoke needs admin", "POST", "/admin/tokens/revoke", svc, map[string]any{"jti": "x"}, 403, "forbidden", ""},
		{"revoke without jti", "POST", "/admin/tokens/revoke", token(t, auth.TokenRequest{UserID: "r", Roles: []string{"admin"}}), map[string]any{}, 400, "validation_failed", "jti"},
		{"unknown endpoint", "GET", "/nope", "", nil, 404, "not_found", ""},
		{"wrong method", "GET", "/ws/send/alice", svc, nil, 405, "method_not_allowed", ""},
		{"wrong method on /ws", "POST", "/ws", svc, nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, n.base+tt.path, tt.token, tt.body)
			if r.Status != tt.wantStatus || r.errorCode() != tt.wantCode || r.errorField() != tt.wantField {
				t.Fatalf("got %d %s field %q, want %d %s field %q; body %s",
					r.Status, r.errorCode(), r.errorField(), tt.wantStatus, tt.wantCode, tt.wantField, r.Raw)
			}
			if r.Body["requestId"] == "" || r.Header.Get("X-Request-ID") == "" {
				t.Fatalf("no request id in %s", r.Raw)
			}
		})
	}
	// Nothing was accepted by the failed sends.
	q := call(t, "GET", n.base+"/ws/queue/alice", svc, nil)
	if q.Body["depth"].(float64) != 0 {
		t.Fatalf("a refused send was queued: %s", q.Raw)
	}
	t.Run("form content type refused", func(t *testing.T) {
		req, _ := http.NewRequest("POST", n.base+"/ws/send/alice", strings.NewReader(`{"type":"n"}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+svc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 415 {
			t.Fatalf("status %d, want 415", resp.StatusCode)
		}
	})
	t.Run("request id is echoed", func(t *testing.T) {
		req, _ := http.NewRequest("GET", n.base+"/nope", nil)
		req.Header.Set("X-Request-ID", "req-123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Request-ID") != "req-123" {
			t.Fatalf("X-Request-ID %q", resp.Header.Get("X-Request-ID"))
		}
	})
}

func TestMessageTypeAllowList(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Messages.AllowedTypes = []string{"notification"} })
	mustStatus(t, n.send(t, "a", "notification", nil), 200)
	r := n.send(t, "a", "other", nil)
	if r.Status != 400 || r.errorField() != "type" {
		t.Fatalf("disallowed type: %s", r.Raw)
	}
}
