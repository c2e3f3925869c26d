package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// These tests hold the Socket.IO endpoint to the native /ws endpoint's
// refusals and limits, and run Socket.IO clients across a fleet, with the
// real socket.io-client (test/sio/rt_*.js).

// rtScriptWait bounds one node script. The scripts' own deadline
// (rtScriptEnv's SIO_TIMEOUT_MS) is below it, so a stuck script reports
// where it stopped instead of being killed.
const rtScriptWait = 30 * time.Second

// rtScriptEnv is the environment every rt_*.js script gets.
func rtScriptEnv(extra ...string) []string {
	return append([]string{"SIO_TIMEOUT_MS=20000"}, extra...)
}

// rtRefusal is a refusal's code and message, from either endpoint.
type rtRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// rtNativeRefusal dials /ws with header and query and returns the code and
// message of the 401 JSON body it must get.
func rtNativeRefusal(t *testing.T, n *node, query string, header http.Header) rtRefusal {
	t.Helper()
	ws, resp, err := dialRaw(t, n, query, header)
	if err == nil {
		ws.Close()
		t.Fatalf("native upgrade (query %q) succeeded, want a 401", query)
	}
	if resp == nil {
		t.Fatalf("native upgrade: no HTTP response: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error rtRefusal `json:"error"`
	}
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(raw, &body) != nil || body.Error.Code == "" {
		t.Fatalf("native upgrade: %d %s, want 401 with a JSON error", resp.StatusCode, raw)
	}
	return body.Error
}

func rtBearer(tok string) http.Header {
	if tok == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// rtAuthCase is one connection rt_auth.js tries; Auth, Query and Headers
// are the client's auth, query and extraHeaders options.
type rtAuthCase struct {
	Name       string            `json:"name"`
	Transports []string          `json:"transports"`
	Auth       map[string]string `json:"auth,omitempty"`
	Query      map[string]string `json:"query,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// rtRunAuthCases runs the cases in one node process and returns each
// case's report line by name.
func rtRunAuthCases(t *testing.T, n *node, cases []rtAuthCase) map[string]map[string]any {
	t.Helper()
	js, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	out := nodeclient.MustRun(t, rtScriptWait, "rt_auth.js", rtScriptEnv("SIO_URL="+n.base, "SIO_CASES="+string(js))...)
	got := map[string]map[string]any{}
	for _, l := range out.Lines {
		if l["step"] == "case" {
			got[l["name"].(string)] = l
		}
	}
	if len(got) != len(cases) || out.Step("done") == nil {
		t.Fatalf("%d case reports for %d cases:\n%s", len(got), len(cases), out.Stdout)
	}
	return got
}

// rtCheckRefused checks that a case ended in connect_error with the
// native refusal's code (as err.data.code) and message.
func rtCheckRefused(t *testing.T, line map[string]any, want rtRefusal) {
	t.Helper()
	data, _ := line["data"].(map[string]any)
	if line["outcome"] != "connect_error" || data["code"] != want.Code || line["message"] != want.Message {
		t.Errorf("%s: %v, want connect_error {message %q, data {code %q}}", line["name"], line, want.Message, want.Code)
	}
}

func rtCheckConnected(t *testing.T, line map[string]any, user, transport string) {
	t.Helper()
	if line["outcome"] != "connected" || line["userId"] != user || line["transport"] != transport {
		t.Errorf("%s: %v, want connected as %s over %s", line["name"], line, user, transport)
	}
}

var rtTransports = []string{"polling", "websocket"}

// TestSocketIOAuthRefusalsMatchNative sends each bad token both ways: as
// the Authorization header of a native /ws upgrade, which answers 401 with
// a JSON error, and as the `auth: {token}` of a Socket.IO CONNECT, which
// must be refused with connect_error carrying the same code in err.data
// and the same message, on either transport.
func TestSocketIOAuthRefusalsMatchNative(t *testing.T) {
	nodeclient.Install(t)
	n := startNode(t, nil)
	secret := []byte(testSecret)
	revoked := auth.NewJTI()
	mustStatus(t, call(t, "POST", n.base+"/admin/tokens/revoke", adminToken(t), map[string]any{"jti": revoked}), 200)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		token string // empty: no token at all
		want  auth.Reason
	}{
		{"missing", "", auth.ReasonMissing},
		{"expired", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		})), auth.ReasonExpired},
		{"bad signature", signWith(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), baseClaims(nil)), auth.ReasonBadSignature},
		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, baseClaims(nil)), auth.ReasonAlgorithm},
		{"HS512", signWith(t, jwt.SigningMethodHS512, secret, baseClaims(nil)), auth.ReasonAlgorithm},
		{"RS256", signWith(t, jwt.SigningMethodRS256, rsaKey, baseClaims(nil)), auth.ReasonAlgorithm},
		{"revoked", signWith(t, jwt.SigningMethodHS256, secret, baseClaims(func(c jwt.MapClaims) { c["jti"] = revoked })), auth.ReasonRevoked},
		{"malformed", "not.a.jwt", auth.ReasonMalformed},
	}
	native := map[string]rtRefusal{}
	var cases []rtAuthCase
	for _, b := range bad {
		r := rtNativeRefusal(t, n, "", rtBearer(b.token))
		if r.Code != string(b.want) {
			t.Fatalf("native %s: code %q, want %q", b.name, r.Code, b.want)
		}
		for _, tr := range rtTransports {
			c := rtAuthCase{Name: b.name + "/" + tr, Transports: []string{tr}}
			if b.token != "" {
				c.Auth = map[string]string{"token": b.token}
			}
			native[c.Name] = r
			cases = append(cases, c)
		}
	}
	got := rtRunAuthCases(t, n, cases)
	for name, want := range native {
		rtCheckRefused(t, got[name], want)
	}
	rtCheckSessionsEnd(t, n)
}

// TestSocketIOTokenSources checks the three places a Socket.IO client may
// put its token: the `auth` payload, the `query` option (?token=) and an
// Authorization header (extraHeaders, which node clients can set), on
// either transport; that a bad token from the query or header is refused
// as the native endpoint refuses it; and that the `auth` payload wins over
// the handshake's header.
func TestSocketIOTokenSources(t *testing.T) {
	nodeclient.Install(t)
	n := startNode(t, nil)
	good := userToken(t, "carol")
	forged := signWith(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), baseClaims(nil))
	expired := signWith(t, jwt.SigningMethodHS256, []byte(testSecret), baseClaims(func(c jwt.MapClaims) {
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	}))
	nativeQuery := rtNativeRefusal(t, n, "token=nope", nil)
	nativeHeader := rtNativeRefusal(t, n, "", rtBearer(forged))
	nativeExpired := rtNativeRefusal(t, n, "", rtBearer(expired))

	var cases []rtAuthCase
	for _, tr := range rtTransports {
		ts := []string{tr}
		cases = append(cases,
			rtAuthCase{Name: "auth/" + tr, Transports: ts, Auth: map[string]string{"token": good}},
			rtAuthCase{Name: "query/" + tr, Transports: ts, Query: map[string]string{"token": good}},
			rtAuthCase{Name: "header/" + tr, Transports: ts, Headers: map[string]string{"Authorization": "Bearer " + good}},
			rtAuthCase{Name: "bad query/" + tr, Transports: ts, Query: map[string]string{"token": "nope"}},
			rtAuthCase{Name: "bad header/" + tr, Transports: ts, Headers: map[string]string{"Authorization": "Bearer " + forged}},
			rtAuthCase{Name: "auth over header/" + tr, Transports: ts, Auth: map[string]string{"token": expired},
				Headers: map[string]string{"Authorization": "Bearer " + good}},
		)
	}
	got := rtRunAuthCases(t, n, cases)
	for _, tr := range rtTransports {
		rtCheckConnected(t, got["auth/"+tr], "carol", tr)
		rtCheckConnected(t, got["query/"+tr], "carol", tr)
		rtCheckConnected(t, got["header/"+tr], "carol", tr)
		rtCheckRefused(t, got["bad query/"+tr], nativeQuery)
		rtCheckRefused(t, got["bad header/"+tr], nativeHeader)
		rtCheckRefused(t, got["auth over header/"+tr], nativeExpired)
	}
	rtCheckSessionsEnd(t, n)
}

// rtCheckSessionsEnd waits until the node holds no session: every script
// closed what it opened, refused ones included, and the runtime saw it.
// Engine.IO sessions are counted from the node's debug log, the only place
// that shows them.
func rtCheckSessionsEnd(t *testing.T, n *node) {
	t.Helper()
	eventually(t, "every hub session to end", func() bool { return n.srv.Hub().Connections() == 0 })
	eventually(t, "every Engine.IO session to close", func() bool {
		logs := n.logs.String()
		return strings.Count(logs, `"message":"session opened"`) == strings.Count(logs, `"message":"session closed"`)
	})
}

// rtRunLimits runs one rt_limits.js scenario as user over transport.
func rtRunLimits(t *testing.T, n *node, scenario, user, transport string, extra ...string) nodeclient.Output {
	t.Helper()
	env := rtScriptEnv(append([]string{"SIO_URL=" + n.base, "SIO_TOKEN=" + userToken(t, user),
		"SIO_TRANSPORTS=" + transport, "SIO_SCENARIO=" + scenario}, extra...)...)
	out := nodeclient.MustRun(t, rtScriptWait, "rt_limits.js", env...)
	if c := out.Step("connected"); c == nil || c["userId"] != user || c["transport"] != transport {
		t.Fatalf("connected: %v, want %s over %s\n%s", c, user, transport, out.Stdout)
	}
	return out
}

// rtFirst returns the first element of a step's array field as an object:
// the first argument of an ack or an event.
func rtFirst(step map[string]any, field string) map[string]any {
	args, _ := step[field].([]any)
	if len(args) == 0 {
		return nil
	}
	m, _ := args[0].(map[string]any)
	return m
}

// rtErrorOf decodes an error object ({code, message, retryAfterMs}).
func rtErrorOf(m map[string]any) errorData {
	var e errorData
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &e)
	return e
}

// TestSocketIOLimitsMatchNative holds Socket.IO clients to the per-user
// message rate limit, the unknown-event answer and the frame size limit,
// each compared with what a native client of the same node gets.
func TestSocketIOLimitsMatchNative(t *testing.T) {
	nodeclient.Install(t)
	const allowed = 3
	n := startNode(t, func(c *config.Config) {
		c.RateLimit.Max = allowed
		c.RateLimit.Abuse = config.Abuse{} // a blocked event must not end the connection here
		c.Limits.MaxMessageBytes = 1024
	})

	t.Run("rate limit", func(t *testing.T) {
		nc := dial(t, n, userToken(t, "native-rate"))
		for i := range allowed {
			if f := nc.request("ping", nil); f.Event != "ack" {
				t.Fatalf("native ping %d: %s %s", i, f.Event, f.Data)
			}
		}
		f := nc.request("ping", nil)
		var native errorData
		f.decode(t, &native)
		if f.Event != "error" || native.Code != string(protocol.CodeRateLimited) {
			t.Fatalf("native ping past the limit: %s %s", f.Event, f.Data)
		}
		for _, tr := range rtTransports {
			t.Run(tr, func(t *testing.T) {
				out := rtRunLimits(t, n, "rate", "sio-rate-"+tr, tr, "SIO_ALLOWED="+strconv.Itoa(allowed))
				for _, l := range out.Lines {
					if l["step"] == "allowed" && rtFirst(l, "ack")["timestamp"] == nil {
						t.Errorf("allowed ping answered %v, want {timestamp}", l["ack"])
					}
				}
				ack, _ := rtFirst(out.Step("limited-ack"), "ack")["error"].(map[string]any)
				rtCheckLimited(t, "ack of a ping with a callback", rtErrorOf(ack), native)
				rtCheckLimited(t, `"error" event after a ping without one`, rtErrorOf(rtFirst(out.Step("limited-event"), "args")), native)
			})
		}
	})

	t.Run("unknown event", func(t *testing.T) {
		nc := dial(t, n, userToken(t, "native-unknown"))
		var native errorData
		nc.request("no_such_event", map[string]any{"x": 1}).decode(t, &native)
		if native.Code != string(protocol.CodeUnknownEvent) {
			t.Fatalf("native code %q", native.Code)
		}
		for _, tr := range rtTransports {
			t.Run(tr, func(t *testing.T) {
				out := rtRunLimits(t, n, "unknown", "sio-unknown-"+tr, tr)
				ack, _ := rtFirst(out.Step("unknown-ack"), "ack")["error"].(map[string]any)
				if e := rtErrorOf(ack); e.Code != native.Code || e.Message != native.Message {
					t.Errorf("ack of an unknown event: %v, want {error: {code %q, message %q}}", out.Step("unknown-ack"), native.Code, native.Message)
				}
				if e := rtErrorOf(rtFirst(out.Step("unknown-event"), "args")); e.Code != native.Code {
					t.Errorf(`"error" event for an unknown event without a callback: %v`, out.Step("unknown-event"))
				}
				if rtFirst(out.Step("after"), "ack")["timestamp"] == nil {
					t.Errorf("ping after the unknown events: %v", out.Step("after"))
				}
			})
		}
	})

	t.Run("oversize event", func(t *testing.T) {
		nc := dial(t, n, userToken(t, "native-big"))
		nc.write(map[string]any{"event": "ping", "data": strings.Repeat("x", 2048)})
		nativeCode, _ := nc.expectClose()
		if nativeCode != protocol.CloseMessageTooBig {
			t.Fatalf("native close %d, want %d", nativeCode, protocol.CloseMessageTooBig)
		}
		for _, tr := range rtTransports {
			t.Run(tr, func(t *testing.T) {
				out := rtRunLimits(t, n, "oversize", "sio-big-"+tr, tr, "SIO_BIG_BYTES=2048")
				if rtFirst(out.Step("small"), "ack")["timestamp"] == nil {
					t.Fatalf("a small ping was not answered: %v", out.Step("small"))
				}
				cr, _ := out.Step("close_reason")["data"].(map[string]any)
				if cr["code"] != float64(nativeCode) || cr["reason"] != "message too big" {
					t.Errorf("close_reason %v, want {code %d, reason \"message too big\"}", cr, nativeCode)
				}
				d := out.Step("disconnect")
				if d["reason"] != "transport close" || !reflect.DeepEqual(d["order"], []any{"close_reason", "disconnect"}) {
					t.Errorf("disconnect %v, want \"transport close\" after close_reason", d)
				}
			})
		}
	})
	rtCheckSessionsEnd(t, n)
}

func rtCheckLimited(t *testing.T, what string, got, native errorData) {
	t.Helper()
	if got.Code != native.Code || got.Message != native.Message || got.RetryAfterMs <= 0 {
		t.Errorf("%s: %+v, want code %q, message %q and a positive retryAfterMs", what, got, native.Code, native.Message)
	}
}

// rtScriptResult is how a script run in the background ended.
type rtScriptResult struct {
	out nodeclient.Output
	err error
}

// TestSocketIOAcrossReplicas runs three runtimes on one Redis with a
// WebSocket-transport Socket.IO client on each: a message sent through
// A's HTTP API reaches the user connected to B, and a publish through C
// reaches the channel's subscribers on all three. A polling request for a
// session of A, sent to B, gets Engine.IO's "Session ID unknown".
func TestSocketIOAcrossReplicas(t *testing.T) {
	nodeclient.Install(t)
	_, nodes := startFleet(t, 3, "")
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("send and publish reach other nodes", func(t *testing.T) {
		users := []string{"sio-on-a", "sio-on-b", "sio-on-c"}
		const ch = "news:sio-fleet"
		ready := make(chan struct{}, 1)
		ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			select {
			case ready <- struct{}{}:
			default:
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer ctl.Close()
		var urls, toks []string
		for i, n := range nodes {
			urls = append(urls, n.base)
			toks = append(toks, userToken(t, users[i]))
		}
		expect, _ := json.Marshal([][]string{{"headline"}, {"notification", "headline"}, {"headline"}})
		env := rtScriptEnv("SIO_URLS="+strings.Join(urls, ","), "SIO_TOKENS="+strings.Join(toks, ","),
			"SIO_CHANNEL="+ch, "SIO_EXPECT="+string(expect), "SIO_READY_URL="+ctl.URL+"/ready", "SIO_TRANSPORTS=websocket")
		done := make(chan rtScriptResult, 1)
		go func() {
			out, err := nodeclient.Run(t, rtScriptWait, "rt_fleet.js", env...)
			done <- rtScriptResult{out, err}
		}()
		var res rtScriptResult
		select {
		case <-ready:
		case res = <-done:
			t.Fatalf("rt_fleet.js ended before it was ready: %v\n%s\n%s", res.err, res.out.Stdout, res.out.Stderr)
		}

		sent := a.send(t, users[1], "notification", map[string]any{"via": "A"})
		mustStatus(t, sent, 200)
		if sent.Body["status"] != "delivered" {
			t.Errorf("send through A to %s on B: %s", users[1], sent.Raw)
		}
		pub := call(t, "POST", c.base+"/ws/publish", serviceToken(t), map[string]any{"channel": ch, "type": "headline", "payload": map[string]any{"via": "C"}})
		mustStatus(t, pub, 200)

		res = <-done // the script's own deadline bounds this
		if res.err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", res.err, res.out.Stdout, res.out.Stderr)
		}
		rtCheckFleetRun(t, res.out, users, sent.Body["messageId"], ch)
		for _, u := range users {
			rtCheckOffline(t, b, u)
		}
	})

	t.Run("polling on the wrong replica", func(t *testing.T) {
		sid := rtPollingHandshake(t, a)
		for _, method := range []string{"GET", "POST"} {
			r := rtPoll(t, method, b, sid, "40")
			if r.status != http.StatusBadRequest || !strings.HasPrefix(r.contentType, "application/json") ||
				!reflect.DeepEqual(r.json, map[string]any{"code": float64(1), "message": "Session ID unknown"}) {
				t.Errorf("%s on B with A's sid: %d %q %s", method, r.status, r.contentType, r.body)
			}
		}
		ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(b.base, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket&sid="+sid, nil)
		if err == nil {
			ws.Close()
			t.Fatal("WebSocket upgrade on B with A's sid succeeded")
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("WebSocket upgrade on B with A's sid: %v %v", resp, err)
		}
		// The session is alive where it was made: A takes a CONNECT on it.
		if r := rtPoll(t, "POST", a, sid, `40{"token":"`+userToken(t, "poller")+`"}`); r.status != 200 || r.body != "ok" {
			t.Fatalf("POST on A: %d %s", r.status, r.body)
		}
		if r := rtPoll(t, "GET", a, sid, ""); r.status != 200 || !strings.HasPrefix(r.body, `40{"sid":`) {
			t.Fatalf("GET on A after CONNECT: %d %s", r.status, r.body)
		}
		if r := rtPoll(t, "POST", a, sid, "1"); r.status != 200 { // close the session
			t.Fatalf("close on A: %d %s", r.status, r.body)
		}
		rtCheckOffline(t, c, "poller")
	})
}

// rtCheckOffline waits until n, asked about user, sees no connection left
// anywhere in the fleet.
func rtCheckOffline(t *testing.T, n *node, user string) {
	t.Helper()
	eventually(t, user+" to go offline", func() bool {
		r := call(t, "GET", n.base+"/ws/status/"+user, serviceToken(t), nil)
		return r.Status == 200 && r.Body["online"] == false
	})
}

// rtCheckFleetRun checks rt_fleet.js's report: each socket connected over
// WebSocket as its user and subscribed; the user on B got the message
// sent through A; every socket got the publish.
func rtCheckFleetRun(t *testing.T, out nodeclient.Output, users []string, messageID any, ch string) {
	t.Helper()
	got := map[string]map[string]any{} // "index event" -> message
	for _, l := range out.Lines {
		i, ok := l["index"].(float64)
		if !ok {
			continue // "done"
		}
		switch l["step"] {
		case "connected":
			if l["userId"] != users[int(i)] || l["transport"] != "websocket" {
				t.Errorf("socket %v: %v, want %s over websocket", i, l, users[int(i)])
			}
		case "subscribed":
			results, _ := l["reply"].(map[string]any)["results"].([]any)
			if len(results) != 1 || results[0].(map[string]any)["ok"] != true {
				t.Errorf("socket %v subscribe: %v", i, l["reply"])
			}
		case "received":
			got[users[int(i)]+" "+l["event"].(string)], _ = l["data"].(map[string]any)
		}
	}
	if m := got[users[1]+" notification"]; m == nil || m["id"] != messageID || m["payload"].(map[string]any)["via"] != "A" {
		t.Errorf("%s on B got %v, want message %v sent through A", users[1], m, messageID)
	}
	for _, u := range users {
		if m := got[u+" headline"]; m == nil || m["channel"] != ch || m["payload"].(map[string]any)["via"] != "C" {
			t.Errorf("%s got headline %v, want the publish through C", u, m)
		}
	}
	if out.Step("done") == nil {
		t.Errorf("the script did not finish:\n%s", out.Stdout)
	}
}

// rtPollingHandshake opens an Engine.IO polling session on n with a raw
// HTTP request and returns its sid.
func rtPollingHandshake(t *testing.T, n *node) string {
	t.Helper()
	r := rtPoll(t, "GET", n, "", "")
	var open struct {
		SID      string   `json:"sid"`
		Upgrades []string `json:"upgrades"`
	}
	if r.status != 200 || !strings.HasPrefix(r.body, "0") || json.Unmarshal([]byte(r.body[1:]), &open) != nil || open.SID == "" {
		t.Fatalf("polling handshake: %d %s", r.status, r.body)
	}
	return open.SID
}

// rtPollResult is one raw Engine.IO polling answer.
type rtPollResult struct {
	status      int
	contentType string
	body        string
	json        map[string]any // the body, when it is a JSON object
}

// rtPoll sends one polling request to n's /socket.io/: a GET, or a POST
// with body as the payload. An empty sid is a handshake.
func rtPoll(t *testing.T, method string, n *node, sid, body string) rtPollResult {
	t.Helper()
	u := n.base + "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		u += "&sid=" + sid
	}
	var rd io.Reader
	if method == "POST" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	hc := http.Client{Timeout: wait}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := rtPollResult{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(raw)}
	_ = json.Unmarshal(raw, &r.json)
	return r
}
