package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// Each case here is a rough edge a new user hit while probing the API;
// each answer must name what is wrong.

func TestRevokeWithABadExpiryNamesTheField(t *testing.T) {
	n := startNode(t, nil)
	for _, body := range []string{`{"jti":"j1","expiresAt":"tomorrow"}`, `{"jti":"j1","expiresAt":5}`} {
		r := call(t, "POST", n.base+"/admin/tokens/revoke", adminToken(t), body)
		mustStatus(t, r, http.StatusBadRequest)
		if r.errorCode() != "validation_failed" || r.errorField() != "expiresAt" || !strings.Contains(r.Raw, "RFC 3339") {
			t.Fatalf("%s: %s", body, r.Raw)
		}
	}
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	mustStatus(t, call(t, "POST", n.base+"/admin/tokens/revoke", adminToken(t), `{"jti":"j1","expiresAt":"`+later+`"}`), http.StatusOK)
}

func TestUnknownFieldsAreRefused(t *testing.T) {
	n := startNode(t, nil)
	c := dial(t, n, userToken(t, "alice"))
	r := call(t, "POST", n.base+"/ws/send/alice", serviceToken(t), `{"type":"note","payload":{},"priorty":"high"}`)
	mustStatus(t, r, http.StatusBadRequest)
	if r.errorCode() != "validation_failed" || r.errorField() != "priorty" || !strings.Contains(r.Raw, `\"priority\"`) {
		t.Fatalf("misspelt field: %s", r.Raw)
	}
	// Nothing went out for the refused request; the next one arrives.
	mustStatus(t, call(t, "POST", n.base+"/ws/send/alice", serviceToken(t), `{"type":"note","payload":{"n":2},"priority":"high"}`), http.StatusOK)
	if m := c.expectMessage("note"); m.Priority != "high" || string(m.Payload) != `{"n":2}` {
		t.Fatalf("message after the refusal: %+v", m)
	}
}

func TestHTTPAPITokensComeOnlyAsBearer(t *testing.T) {
	n := startNode(t, nil)
	req, _ := http.NewRequest("GET", n.base+"/ws/status/alice", nil)
	req.SetBasicAuth("user", "pass")
	basic := rawCall(t, req)
	if basic.Status != http.StatusUnauthorized || basic.errorCode() != "token_missing" || !strings.Contains(basic.Raw, `\"Basic\" scheme`) || !strings.Contains(basic.Raw, "Bearer") {
		t.Fatalf("Basic scheme: %d %s", basic.Status, basic.Raw)
	}
	query := call(t, "GET", n.base+"/ws/status/alice?token="+serviceToken(t), "", nil)
	if query.Status != http.StatusUnauthorized || !strings.Contains(query.Raw, "only in an Authorization: Bearer header") {
		t.Fatalf("?token= on the HTTP API: %d %s", query.Status, query.Raw)
	}
	// ?token= still works where browsers need it: the upgrade.
	ws, _, err := dialRaw(t, n, "token="+userToken(t, "bob"), nil)
	if err != nil {
		t.Fatalf("?token= on /ws: %v", err)
	}
	ws.Close()
}

func TestBadFramesSayWhatIsWrong(t *testing.T) {
	n := startNode(t, nil)
	c := dial(t, n, userToken(t, "alice"))
	for in, want := range map[string]string{
		`[1,2]`:                     "frame is not a JSON object: it is an array",
		`{"event":"ping","id":"x"}`: `"id" must be an integer between 0 and 9007199254740991, not a string`,
		`{"event":7}`:               `"event" must be a string, not a number`,
	} {
		if err := c.ws.WriteMessage(1, []byte(in)); err != nil {
			t.Fatal(err)
		}
		var e errorData
		c.expect("error").decode(t, &e)
		if e.Code != "bad_frame" || e.Message != want {
			t.Fatalf("%s: %+v, want bad_frame %q", in, e, want)
		}
	}
	if f := c.request("ping", nil); f.Event != "ack" {
		t.Fatalf("after bad frames: %s", f.Event)
	}
}

func TestUnknownPathsSayWhatIsThere(t *testing.T) {
	n := startNode(t, nil)
	r := call(t, "GET", n.base+"/ws/sned/alice", "", nil)
	mustStatus(t, r, http.StatusNotFound)
	if !strings.Contains(r.Raw, "under /ws there are:") || !strings.Contains(r.Raw, "POST /ws/send/{userId}") {
		t.Fatalf("/ws/sned: %s", r.Raw)
	}
	r = call(t, "GET", n.base+"/admin/nope", "", nil)
	if !strings.Contains(r.Raw, "GET /admin/connections") {
		t.Fatalf("/admin/nope: %s", r.Raw)
	}
	off := startNode(t, func(c *config.Config) { c.SocketIO.Enabled = false })
	r = call(t, "GET", off.base+"/socket.io/?EIO=4&transport=polling", "", nil)
	if r.Status != http.StatusNotFound || !strings.Contains(r.Raw, "Socket.IO is off on this node") {
		t.Fatalf("/socket.io/ with Socket.IO off: %d %s", r.Status, r.Raw)
	}
}
