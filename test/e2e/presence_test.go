package e2e

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/redistest"
)

const presenceRules = `channels:
  namespaces:
    doc: {presence: true, joinLeave: true}
    room: {presence: true}
`

// infoToken is a user token with an info claim.
func infoToken(t *testing.T, user, info string) string {
	return signWith(t, jwt.SigningMethodHS256, []byte(testSecret), baseClaims(func(c jwt.MapClaims) {
		c["sub"], c["info"] = user, jsonRaw(info)
	}))
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

type joinLeave struct {
	Channel, UserID string
	Info            map[string]any
}

// members renders a presence page as "user:connections" items.
func members(t *testing.T, body map[string]any) string {
	t.Helper()
	var out []string
	for _, m := range body["members"].([]any) {
		m := m.(map[string]any)
		item := fmt.Sprintf("%s:%v", m["userId"], m["connections"])
		if info, ok := m["info"].(map[string]any); ok {
			item += fmt.Sprintf("(%v)", info["name"])
		}
		out = append(out, item)
	}
	return fmt.Sprint(out)
}

// checkPresence: watchers and users on two nodes.
func checkPresence(t *testing.T, a, b *node) {
	carol := dial(t, b, userToken(t, "carol"))
	carol.subscribe("doc:1", "room:1")

	tab1 := dial(t, a, infoToken(t, "alice", `{"name":"Alice"}`))
	tab1.subscribe("doc:1")
	var ev joinLeave
	carol.expect("join").decode(t, &ev)
	if ev.Channel != "doc:1" || ev.UserID != "alice" || ev.Info["name"] != "Alice" {
		t.Fatalf("join %+v", ev)
	}
	tab2 := dial(t, b, infoToken(t, "alice", `{"name":"Alice"}`))
	tab2.subscribe("doc:1") // a second tab: no second join
	bob := dial(t, a, userToken(t, "bob"))
	bob.subscribe("doc:1", "room:1")
	for _, c := range []*client{carol, tab1, tab2} {
		c.expect("join").decode(t, &ev)
		if ev.UserID != "bob" {
			t.Fatalf("the join after alice's second tab is %+v, want bob's", ev)
		}
	}

	svc := serviceToken(t)
	path := func(ch, what, query string) string {
		return a.base + "/ws/channels/" + url.PathEscape(ch) + "/" + what + query
	}
	r := call(t, "GET", path("doc:1", "presence", ""), svc, nil)
	mustStatus(t, r, 200)
	if got := members(t, r.Body); got != "[alice:2(Alice) bob:1 carol:1]" || r.Body["more"] != false {
		t.Errorf("presence %s: %s", got, r.Raw)
	}
	r = call(t, "GET", path("doc:1", "presence", "?limit=2"), svc, nil)
	if got := members(t, r.Body); got != "[alice:2(Alice) bob:1]" || r.Body["more"] != true {
		t.Errorf("first page %s more=%v", got, r.Body["more"])
	}
	r = call(t, "GET", path("doc:1", "presence", "?after=bob&limit=2"), svc, nil)
	if got := members(t, r.Body); got != "[carol:1]" || r.Body["more"] != false {
		t.Errorf("second page %s more=%v", got, r.Body["more"])
	}
	r = call(t, "GET", path("doc:1", "presence-stats", ""), svc, nil)
	if r.Body["users"] != 3.0 || r.Body["connections"] != 4.0 {
		t.Errorf("presence-stats %s", r.Raw)
	}
	if r := call(t, "GET", path("news:1", "presence", ""), svc, nil); r.Status != 404 || r.errorCode() != "presence_disabled" {
		t.Errorf("a namespace without presence: %d %s", r.Status, r.Raw)
	}

	// Clients on the channel can ask too.
	var page map[string]any
	bob.request("presence", map[string]any{"channel": "room:1"}).decode(t, &page)
	if got := members(t, page); got != "[bob:1 carol:1]" {
		t.Errorf("presence event on room:1: %s", got)
	}
	var st map[string]any
	bob.request("presence_stats", map[string]any{"channel": "doc:1"}).decode(t, &st)
	if st["users"] != 3.0 || st["connections"] != 4.0 {
		t.Errorf("presence_stats event %v", st)
	}
	if f := tab1.request("presence", map[string]any{"channel": "room:1"}); f.Event != "error" {
		t.Errorf("presence of a channel the client is not on: %s %s", f.Event, f.Data)
	}

	// Leaving: one tab is not the user leaving; the last tab is.
	tab1.request("unsubscribe", map[string]any{"channels": []string{"doc:1"}})
	_ = tab2.ws.Close()
	for _, c := range []*client{carol, bob} {
		c.expect("leave").decode(t, &ev)
		if ev.UserID != "alice" || ev.Channel != "doc:1" {
			t.Fatalf("leave %+v", ev)
		}
	}
	// room has presence but no join/leave events.
	bob.request("unsubscribe", map[string]any{"channels": []string{"room:1"}})
	if f := carol.request("ping", nil); f.Event != "ack" {
		t.Fatalf("carol got %s %s, want no event for room:1", f.Event, f.Data)
	}
	r = call(t, "GET", path("doc:1", "presence", ""), svc, nil)
	if got := members(t, r.Body); got != "[bob:1 carol:1]" {
		t.Errorf("presence after alice left: %s", got)
	}
}

func TestChannelPresence(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{"doc": {Presence: true, JoinLeave: true}, "room": {Presence: true}}
	})
	checkPresence(t, n, n)
}

func TestChannelPresenceAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, presenceRules)
	checkPresence(t, nodes[0], nodes[2])
}

// TestChannelPresenceOfAKilledNode: a SIGKILLed node's users leave the
// presence answer within presence.ttl.
func TestChannelPresenceOfAKilledNode(t *testing.T) {
	srv := redistest.Start(t)
	cfg := writeConfig(t, presenceRules+"presence:\n  ttl: 2s\n")
	env := []string{"REDIS_URL=" + srv.URL()}
	a := startProcessEnv(t, env, "--config", cfg).node
	b := startProcessEnv(t, env, "--config", cfg)
	dial(t, a, userToken(t, "alice")).subscribe("doc:9")
	dial(t, b.node, userToken(t, "doomed")).subscribe("doc:9")
	get := func() string {
		r := call(t, "GET", a.base+"/ws/channels/doc:9/presence", serviceToken(t), nil)
		return members(t, r.Body)
	}
	if got := get(); got != "[alice:1 doomed:1]" {
		t.Fatalf("before the kill: %s", got)
	}
	_ = b.cmd.Process.Kill()
	<-b.exit
	killed := time.Now()
	eventually(t, "the killed node's user gone", func() bool { return get() == "[alice:1]" })
	gone := time.Since(killed)
	t.Logf("the killed node's user left the presence answer %s after the kill (ttl 2s)", gone.Round(100*time.Millisecond))
	if gone > 3*time.Second {
		t.Errorf("it took %s, more than the ttl and a refresh", gone)
	}
}
