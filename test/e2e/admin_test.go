package e2e

import (
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

func adminToken(t *testing.T) string {
	return token(t, auth.TokenRequest{UserID: "root", Roles: []string{auth.RoleAdmin}})
}

func TestAdminAPI(t *testing.T) {
	n := startNode(t, nil)
	admin := adminToken(t)
	a1 := dial(t, n, token(t, auth.TokenRequest{UserID: "alice", Tier: "premium"}))
	a2 := dial(t, n, token(t, auth.TokenRequest{UserID: "alice", Tier: "premium"}))
	bob := dial(t, n, token(t, auth.TokenRequest{UserID: "bob", Teams: []string{"red"}}))
	bob.subscribe("team:red")

	t.Run("connections", func(t *testing.T) {
		r := call(t, "GET", n.base+"/admin/connections?top=1", admin, nil)
		mustStatus(t, r, 200)
		if r.Body["total"].(float64) != 3 || r.Body["users"].(float64) != 2 ||
			fmt.Sprint(r.Body["byTier"]) != "map[default:1 premium:2]" || fmt.Sprint(r.Body["byTransport"]) != "map[native:3]" {
			t.Fatalf("connections: %s", r.Raw)
		}
		top := r.Body["topUsers"].([]any)
		if len(top) != 1 || top[0].(map[string]any)["userId"] != "alice" || top[0].(map[string]any)["connections"].(float64) != 2 {
			t.Fatalf("top users: %v", top)
		}
	})

	t.Run("queues and clearing one", func(t *testing.T) {
		for range 3 {
			n.send(t, "carol", "notification", nil)
		}
		n.send(t, "dave", "notification", nil)
		r := call(t, "GET", n.base+"/admin/queues", admin, nil)
		mustStatus(t, r, 200)
		if r.Body["waiting"].(float64) != 4 || fmt.Sprint(r.Body["largest"]) != "[map[depth:3 userId:carol] map[depth:1 userId:dave]]" {
			t.Fatalf("queues: %s", r.Raw)
		}
		for _, k := range []string{"active", "completed", "failed"} {
			if _, ok := r.Body[k]; !ok {
				t.Fatalf("queues lacks %q: %s", k, r.Raw)
			}
		}
		c := call(t, "DELETE", n.base+"/admin/queues/user/carol", admin, nil)
		if c.Status != 200 || c.Body["cleared"].(float64) != 3 {
			t.Fatalf("clear: %s", c.Raw)
		}
		r = call(t, "GET", n.base+"/admin/queues", admin, nil)
		if r.Body["waiting"].(float64) != 1 {
			t.Fatalf("after clear: %s", r.Raw)
		}
	})

	t.Run("request_queue_stats", func(t *testing.T) {
		ac := dial(t, n, admin)
		f := ac.request("request_queue_stats", nil)
		var st struct{ Waiting int }
		f.decode(t, &st)
		if f.Event != "ack" || st.Waiting != 1 {
			t.Fatalf("admin: %s %s", f.Event, f.Data)
		}
		ac.emit("request_queue_stats", nil)
		ac.expectMessage("queue_stats")
		f = bob.request("request_queue_stats", nil)
		var e errorData
		f.decode(t, &e)
		if f.Event != "error" || e.Code != "forbidden" {
			t.Fatalf("non-admin: %s %s", f.Event, f.Data)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		r := call(t, "POST", n.base+"/admin/alert", admin, map[string]any{"team": "red", "payload": map[string]any{"title": "Red team"}})
		mustStatus(t, r, 200)
		if m := bob.expectMessage("system_alert"); m.Channel != "team:red" || m.Priority != "high" {
			t.Fatalf("team alert %+v", m)
		}
		r = call(t, "POST", n.base+"/admin/alert", admin, map[string]any{"payload": map[string]any{"title": "Everyone"}, "priority": "normal"})
		mustStatus(t, r, 200)
		for _, c := range []*client{a1, a2, bob} {
			if m := c.expectMessage("system_alert"); m.Channel != "" || m.Priority != "normal" {
				t.Fatalf("broadcast alert %+v", m)
			}
		}
		if r := call(t, "POST", n.base+"/admin/alert", admin, map[string]any{}); r.Status != 400 || r.errorField() != "payload" {
			t.Fatalf("alert without payload: %s", r.Raw)
		}
	})

	t.Run("ws test endpoint", func(t *testing.T) {
		svc := serviceToken(t)
		if r := call(t, "POST", n.base+"/ws/test", svc, map[string]any{"testType": "ping"}); r.Status != 200 || r.Body["ok"] != true {
			t.Fatalf("ping: %s", r.Raw)
		}
		if r := call(t, "POST", n.base+"/ws/test", svc, map[string]any{"testType": "echo", "payload": map[string]any{"x": 1}}); fmt.Sprint(r.Body["echo"]) != "map[x:1]" {
			t.Fatalf("echo: %s", r.Raw)
		}
		r := call(t, "POST", n.base+"/ws/test", svc, map[string]any{"testType": "broadcast"})
		mustStatus(t, r, 200)
		bob.expectMessage("test")
		if r := call(t, "POST", n.base+"/ws/test", svc, map[string]any{"testType": "nope"}); r.Status != 400 || r.errorField() != "testType" {
			t.Fatalf("bad test type: %s", r.Raw)
		}
	})

	t.Run("disconnect a user", func(t *testing.T) {
		r := call(t, "POST", n.base+"/admin/disconnect/alice", admin, nil)
		if r.Status != 200 || r.Body["disconnected"].(float64) != 2 {
			t.Fatalf("disconnect: %s", r.Raw)
		}
		for _, c := range []*client{a1, a2} {
			if code, _ := c.expectClose(); code != 4004 {
				t.Fatalf("close code %d, want 4004", code)
			}
		}
	})

	t.Run("admin role required", func(t *testing.T) {
		svc := serviceToken(t)
		for _, ep := range []struct{ method, path string }{
			{"GET", "/admin/connections"}, {"GET", "/admin/queues"}, {"DELETE", "/admin/queues/user/x"},
			{"POST", "/admin/alert"}, {"POST", "/admin/disconnect/x"},
		} {
			if r := call(t, ep.method, n.base+ep.path, svc, nil); r.Status != 403 || r.errorCode() != "forbidden" {
				t.Errorf("%s %s with a service token: %d %s", ep.method, ep.path, r.Status, r.Raw)
			}
		}
	})
}
