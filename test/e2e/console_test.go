package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// The web console itself is driven in a real browser by test/console;
// these tests hold what it rests on.

func TestConsoleIsOffOutsideDevModeAndStrictWhenOn(t *testing.T) {
	off := startNode(t, nil)
	r := call(t, "GET", off.base+"/console/", "", nil)
	if r.Status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Fatalf("console with a JWT key and console.enabled unset: %d %s", r.Status, r.Raw)
	}
	on := true
	n := startNode(t, func(c *config.Config) { c.Console.Enabled = &on })
	for _, path := range []string{"/console/", "/console/console.js", "/console/console.css"} {
		resp, err := http.Get(n.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("%s: %d, CSP %q", path, resp.StatusCode, csp)
		}
	}
	// The rest of the API keeps the policy that forbids everything.
	if resp, err := http.Get(n.base + "/health"); err != nil || resp.Header.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" {
		t.Fatalf("/health CSP: %v %v", resp.Header.Get("Content-Security-Policy"), err)
	}
}

func TestWebSocketTokenAsSubprotocol(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.CORS.Origins = []string{"https://app.example.com"} })
	d := websocket.Dialer{Subprotocols: []string{"fleetwire", "fleetwire.bearer." + userToken(t, "alice")}}
	// The console's page comes from the runtime itself: same origin passes
	// whatever cors.origins lists.
	ws, resp, err := d.Dial(n.wsURL(""), http.Header{"Origin": {n.base}})
	if err != nil {
		t.Fatalf("dial with the token as a subprotocol: %v", err)
	}
	defer ws.Close()
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "fleetwire" {
		t.Fatalf("selected subprotocol %q, want fleetwire (never the token)", got)
	}
	var f frame
	if err := ws.ReadJSON(&f); err != nil || f.Event != "connected" || !strings.Contains(string(f.Data), `"userId":"alice"`) {
		t.Fatalf("first frame %s %s, %v", f.Event, f.Data, err)
	}
	bad := websocket.Dialer{Subprotocols: []string{"fleetwire", "fleetwire.bearer.nope"}}
	if _, resp, err := bad.Dial(n.wsURL(""), nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad token as a subprotocol must get 401: %v", err)
	}
}

// TestConsoleUserPageAndDisconnectSpanTheFleet: the node that answers
// asks the others for their part of a user, and disconnects the user on
// every node.
func TestConsoleUserPageAndDisconnectSpanTheFleet(t *testing.T) {
	srv := redistestStart(t)
	cfg := writeConfig(t, "")
	var nodes []*node
	var procs []*proc
	for range 3 {
		p := startProcessEnv(t, []string{"REDIS_URL=" + srv.URL(), "POD_IP=127.0.0.1"}, "--config", cfg, "--drain-pre-delay", "0s", "--drain-timeout", "0s")
		nodes, procs = append(nodes, p.node), append(procs, p)
	}
	onB := dial(t, nodes[1], userToken(t, "alice"))
	onC := dial(t, nodes[2], userToken(t, "alice"))
	mustStatus(t, nodes[2].send(t, "alice", "note", map[string]any{"n": 1}), http.StatusOK)
	var page apiResult
	eventually(t, "alice's page on A listing both connections", func() bool {
		page = call(t, "GET", nodes[0].base+"/admin/users/alice", adminToken(t), nil)
		s, _ := page.Body["sessions"].([]any)
		return page.Status == http.StatusOK && len(s) == 2
	})
	nodesSeen := map[string]bool{}
	for _, s := range page.Body["sessions"].([]any) {
		nodesSeen[s.(map[string]any)["node"].(string)] = true
	}
	if len(nodesSeen) != 2 || page.Body["online"] != true || page.Body["connections"].(float64) != 2 {
		t.Fatalf("alice's page: %s", page.Raw)
	}
	if d, _ := page.Body["deliveries"].([]any); len(d) != 1 || d[0].(map[string]any)["type"] != "note" {
		t.Fatalf("the delivery sent through C is missing from the page A answers: %s", page.Raw)
	}
	r := call(t, "POST", nodes[0].base+"/admin/users/alice/disconnect", adminToken(t), nil)
	mustStatus(t, r, http.StatusOK)
	if r.Body["disconnected"].(float64) != 2 {
		t.Fatalf("fleet-wide disconnect: %s", r.Raw)
	}
	for _, c := range []*client{onB, onC} {
		if code, _ := c.expectClose(); code != 4004 {
			t.Fatalf("close code %d, want 4004", code)
		}
	}
	// A node killed without a word stays in the registry until it is
	// stale; meanwhile the page names it instead of hiding its part.
	if err := procs[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-procs[2].exit
	page = call(t, "GET", nodes[0].base+"/admin/users/alice", adminToken(t), nil)
	if u, _ := page.Body["unreachable"].([]any); page.Status != http.StatusOK || len(u) != 1 {
		t.Fatalf("the page with a dead node: %s", page.Raw)
	}
	// A service token may not read the console's endpoints.
	if r := call(t, "GET", nodes[0].base+"/admin/users/alice", serviceToken(t), nil); r.Status != http.StatusForbidden {
		t.Fatalf("a service token read a user page: %d", r.Status)
	}
}

// TestConsoleOverviewWithRedisAway: with Redis stopped, the overview and
// a user page still answer, with this node's part and a warning for what
// could not be read.
func TestConsoleOverviewWithRedisAway(t *testing.T) {
	srv, nodes := startFleet(t, 1, "")
	n := nodes[0]
	dial(t, n, userToken(t, "alice"))
	// A token with a jti cannot be checked against the revocation list
	// while Redis is away, and is refused (auth_unavailable); one without
	// a jti, as many identity providers issue, still passes.
	admin, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "roles": []string{"admin"},
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if r := call(t, "GET", n.base+"/admin/fleet", adminToken(t), nil); r.Status != http.StatusServiceUnavailable || r.errorCode() != "auth_unavailable" {
		t.Fatalf("a token with a jti while Redis is away: %d %s", r.Status, r.Raw)
	}
	r := call(t, "GET", n.base+"/admin/fleet", admin, nil)
	mustStatus(t, r, http.StatusOK)
	w, _ := r.Body["warnings"].([]any)
	if len(w) != 2 || !strings.Contains(fmt.Sprint(w), "only this node is shown") || !strings.Contains(fmt.Sprint(w), "offline queues could not be read") {
		t.Fatalf("overview with Redis away: %s", r.Raw)
	}
	if nodesListed, _ := r.Body["nodes"].([]any); len(nodesListed) != 1 || r.Body["totals"].(map[string]any)["connections"].(float64) != 1 {
		t.Fatalf("overview with Redis away lists %s", r.Raw)
	}
	u := call(t, "GET", n.base+"/admin/users/alice", admin, nil)
	mustStatus(t, u, http.StatusOK)
	if s, _ := u.Body["sessions"].([]any); len(s) != 1 || u.Body["online"] != true || len(u.Body["warnings"].([]any)) == 0 {
		t.Fatalf("user page with Redis away: %s", u.Raw)
	}
	srv.Restart(t)
	eventually(t, "the overview without warnings once Redis is back", func() bool {
		r := call(t, "GET", n.base+"/admin/fleet", admin, nil)
		w, _ := r.Body["warnings"].([]any)
		return r.Status == http.StatusOK && len(w) == 0
	})
}
