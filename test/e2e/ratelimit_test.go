package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/message"
)

func minute(n int) config.Rule {
	return config.Rule{Limit: n, Window: config.Duration{Duration: time.Minute}}
}

func TestRateLimitRulesAndTiers(t *testing.T) {
	three := 3
	n := startNode(t, func(c *config.Config) {
		c.RateLimit.Max = 4
		c.RateLimit.Events = map[string]config.Rule{"subscribe": minute(2)}
		c.RateLimit.ConnectionsPerUser = 2
		c.RateLimit.HTTPPerCaller = minute(3)
		c.RateLimit.Abuse = config.Abuse{}
		big := minute(8)
		c.RateLimit.Tiers = map[string]config.Tier{"premium": {
			Messages:           &big,
			Events:             map[string]config.Rule{"subscribe": minute(4)},
			ConnectionsPerUser: &three,
			HTTPPerCaller:      &big,
		}}
	})

	t.Run("per-event limit, and tiers raise it", func(t *testing.T) {
		for _, tc := range []struct {
			tier    string
			allowed int
		}{{"", 2}, {"premium", 4}} {
			c := dial(t, n, token(t, auth.TokenRequest{UserID: "sub-" + tc.tier, Tier: tc.tier}))
			for i := range tc.allowed {
				if f := c.request("subscribe", map[string]any{"channels": []string{"a:" + strconv.Itoa(i)}}); f.Event != "ack" {
					t.Fatalf("tier %q subscribe %d: %s", tc.tier, i, f.Data)
				}
			}
			f := c.request("subscribe", map[string]any{"channels": []string{"a:x"}})
			var e errorData
			f.decode(t, &e)
			if f.Event != "error" || e.Code != "rate_limited" || e.RetryAfterMs <= 0 {
				t.Fatalf("tier %q over the subscribe limit: %s %s", tc.tier, f.Event, f.Data)
			}
			// Other events still pass: the per-event rule is separate.
			if f := c.request("ping", nil); f.Event != "ack" {
				t.Fatalf("tier %q ping after subscribe limit: %s", tc.tier, f.Data)
			}
		}
	})

	t.Run("per-user message limit, and tiers raise it", func(t *testing.T) {
		for _, tc := range []struct {
			tier    string
			allowed int
		}{{"", 4}, {"premium", 8}} {
			c := dial(t, n, token(t, auth.TokenRequest{UserID: "msg-" + tc.tier, Tier: tc.tier}))
			for i := range tc.allowed {
				if f := c.request("ping", nil); f.Event != "ack" {
					t.Fatalf("tier %q ping %d: %s", tc.tier, i, f.Data)
				}
			}
			if f := c.request("ping", nil); f.Event != "error" {
				t.Fatalf("tier %q ping past the limit: %s", tc.tier, f.Event)
			}
		}
	})

	t.Run("per-user connections, and tiers raise the cap", func(t *testing.T) {
		for _, tc := range []struct {
			tier string
			cap  int
		}{{"", 2}, {"premium", 3}} {
			tok := token(t, auth.TokenRequest{UserID: "conn-" + tc.tier, Tier: tc.tier})
			for range tc.cap {
				dial(t, n, tok)
			}
			expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + tok}}, 429, "too_many_user_connections")
		}
	})

	t.Run("HTTP calls per caller, and tiers raise it", func(t *testing.T) {
		for _, tc := range []struct {
			tier    string
			allowed int
		}{{"", 3}, {"premium", 8}} {
			tok := token(t, auth.TokenRequest{UserID: "svc-" + tc.tier, Roles: []string{"service"}, Tier: tc.tier})
			for i := range tc.allowed {
				mustStatus(t, call(t, "GET", n.base+"/ws/status/x", tok, nil), 200)
				_ = i
			}
			r := call(t, "GET", n.base+"/ws/status/x", tok, nil)
			if r.Status != 429 || r.errorCode() != "rate_limited" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("tier %q past the HTTP limit: %d %s (Retry-After %q)", tc.tier, r.Status, r.Raw, r.Header.Get("Retry-After"))
			}
		}
	})
}

func TestConnectionAttemptsPerIP(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.RateLimit.ConnectionsPerIP = minute(3) })
	for range 3 {
		ws, _, err := dialRaw(t, n, "", http.Header{"Authorization": {"Bearer " + userToken(t, "a")}})
		if err != nil {
			t.Fatal(err)
		}
		ws.Close()
	}
	// Refused before the upgrade, and before the token is even checked.
	ws, resp, err := dialRaw(t, n, "", http.Header{"Authorization": {"Bearer " + userToken(t, "a")}})
	if err == nil {
		ws.Close()
		t.Fatal("fourth attempt upgraded")
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestSustainedAbuseCloses(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.RateLimit.Max = 2
		c.RateLimit.Abuse = config.Abuse{Blocked: 3, Window: config.Duration{Duration: time.Minute}}
	})
	c := dial(t, n, userToken(t, "spammer"))
	for range 10 {
		c.emit("ping", nil)
	}
	if code, reason := c.expectClose(); code != 1008 || reason != "rate limit abuse" {
		t.Fatalf("close %d %q, want 1008", code, reason)
	}
	eventually(t, "the session to be removed", func() bool { return n.srv.Hub().Connections() == 0 })
	fams := scrape(t, n)
	if v := value(t, fams, "realtime_connections_closed_total", map[string]string{"reason": "policy_violation"}); v != 1 {
		t.Fatalf("policy_violation closes = %v", v)
	}
	if v := value(t, fams, "realtime_rate_limit_decisions_total", map[string]string{"rule": "messages", "outcome": "blocked"}); v < 3 {
		t.Fatalf("blocked decisions = %v", v)
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.CORS.Origins = []string{"https://app.example.com"} })
	req, _ := http.NewRequest("OPTIONS", n.base+"/ws/send/alice", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example.net")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("GET", n.base+"/health", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	plain, _ := http.Get(n.base + "/health")
	plain.Body.Close()
	if plain.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent on plain HTTP")
	}
}

// TestSlowConsumerKeepsUserMessages fills a connection whose client stops
// reading. The server must close it with 4008, and every message it
// accepted for the user must reach the client or wait in the user's queue.
func TestSlowConsumerKeepsUserMessages(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.MaxBodyBytes = 2048
		c.Limits.OutboundQueueBytes = 64 << 10
		c.Queue.MaxPerUser = 1000000
	})
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, _, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, "slow")}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	payload, _ := json.Marshal(string(make([]byte, 900)))
	ctx := context.Background()
	accepted := map[string]bool{}
	afterClose := 0
	for i := 0; i < 50000 && afterClose < 100; i++ {
		msg := message.New("bulk", payload, message.PriorityNormal)
		d, err := n.srv.Hub().SendToUser(ctx, "slow", msg)
		if err != nil {
			t.Fatal(err)
		}
		accepted[msg.ID] = true
		if d.Status == "queued" {
			afterClose++ // the session is closing: these go to the queue
		}
		// Pace the producer a little, so the writer fills the socket
		// before the queue overflows, as with a real slow reader.
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	// Now read everything the socket holds, up to the close.
	received := map[string]bool{}
	code, frames := 0, 0
	for {
		_ = ws.SetReadDeadline(time.Now().Add(wait))
		_, p, err := ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				code = ce.Code
			}
			break
		}
		var f frame
		_ = json.Unmarshal(p, &f)
		frames++
		if f.Event == "bulk" {
			var m appMessage
			_ = json.Unmarshal(f.Data, &m)
			received[m.ID] = true
		}
	}
	if code != 4008 {
		t.Fatalf("close code %d, want 4008 slow consumer", code)
	}
	eventually(t, "the session to be removed", func() bool { return n.srv.Hub().Connections() == 0 })
	queued := map[string]bool{}
	msgs, _, err := n.srv.Hub().Queue().Peek(ctx, "slow", 1000000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		queued[m.ID] = true
	}
	lost, dup := 0, 0
	for id := range accepted {
		if !received[id] && !queued[id] {
			lost++
		}
		if received[id] && queued[id] {
			dup++
		}
	}
	t.Logf("frames %d; accepted %d, received %d, queued %d, duplicates %d, lost %d", frames, len(accepted), len(received), len(queued), dup, lost)
	if len(queued) == 0 {
		t.Fatal("nothing was queued: the connection never overflowed")
	}
	if lost != 0 {
		t.Fatalf("%d accepted messages were lost", lost)
	}
	if v := value(t, scrape(t, n), "realtime_slow_consumer_disconnects_total", nil); v != 1 {
		t.Fatalf("slow consumer disconnects = %v", v)
	}
}
