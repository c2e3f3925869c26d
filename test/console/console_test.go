// Package console_test drives the web console in a real headless
// Chromium, against real runtime processes, with chromedp.
package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
	"github.com/fleetwire/fleetwire/test/testproc"
)

var secret = []byte(strings.Repeat("k", 40))

// wait bounds every step that waits for the page; the overview polls
// every 2s and samples are taken every 5s.
const wait = 30 * time.Second

func sign(t *testing.T, user string, roles ...string) string {
	t.Helper()
	tok, err := auth.SignHS256(secret, auth.TokenRequest{UserID: user, Roles: roles, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// chromium finds the browser: $FLEETWIRE_CHROMIUM, else chromium on the
// PATH, which hack/setup-test-env.sh installs from Debian's packages.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLEETWIRE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run hack/setup-test-env.sh (make test does), or set FLEETWIRE_CHROMIUM")
	return ""
}

// browser starts a headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the tests may run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser actions, each bounded by wait.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitText waits until the element's text satisfies ok.
func waitText(t *testing.T, ctx context.Context, what, sel string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last string
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			last = got
			if ok(got) {
				return got
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s never matched; last text %q", what, sel, last)
	return ""
}

func contains(s string) func(string) bool {
	return func(got string) bool { return strings.Contains(got, s) }
}

// artifacts is where screenshots (PNG) go (testproc.Artifacts). The
// path is logged.
func artifacts(t *testing.T) string { return testproc.Artifacts(t, "console") }

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// signIn pastes the token into the sign-in form and submits it.
func signIn(t *testing.T, ctx context.Context, base, tok string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), tok),
		chromedp.Click(chromedp.CSS("#sign-in-form button[type=submit]")),
	)
}

func post(t *testing.T, u, tok string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", u, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v", u, resp.StatusCode, out)
	}
	return out
}

// readMessage reads frames until one of the given type arrives.
func readMessage(t *testing.T, ws *websocket.Conn, typ string) map[string]any {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	for {
		var f struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for a %s message: %v", typ, err)
		}
		if f.Event == typ {
			return f.Data
		}
	}
}

// TestConsoleInARealBrowser signs in, watches the connection count rise,
// finds a user and sends them a message, watches a channel, and checks
// that a token without the admin role gets a readable refusal.
func TestConsoleInARealBrowser(t *testing.T) {
	p := runtimeproc.StartOn(t, secret, "127.0.0.1", redistest.FreePort(t), "CONSOLE_ENABLED=true")
	base := "http://" + p.Addr
	ctx := browser(t)

	// A token without the admin role is refused with words a person reads.
	signIn(t, ctx, base, sign(t, "mallory"))
	waitText(t, ctx, "the refusal of a non-admin token", "#error", contains("lacks the admin role"))
	if stored := eval[string](t, ctx, `sessionStorage.getItem("fleetwire.console.token") || ""`); stored != "" {
		t.Fatal("a refused token was kept in sessionStorage")
	}

	admin := sign(t, "ops", auth.RoleAdmin)
	signIn(t, ctx, base, admin)
	waitText(t, ctx, "the overview", "#total-connections", func(s string) bool { return s == "0" })
	stored := eval[string](t, ctx, `sessionStorage.getItem("fleetwire.console.token") || ""`)
	href := eval[string](t, ctx, `location.href`)
	if stored != admin || strings.Contains(href, admin) || strings.Contains(href, "token") {
		t.Fatalf("the token must be in sessionStorage and not in the URL: stored %t, href %s", stored == admin, href)
	}

	// The count rises when a client connects.
	alice := p.Connect(t, "alice")
	waitText(t, ctx, "the connection count after a connect", "#total-connections", func(s string) bool { return s == "1" })
	waitText(t, ctx, "this node's row", "#overview tr[data-node] td:nth-child(3)", func(s string) bool { return s == "1" })
	screenshot(t, ctx, "overview")

	// Find alice and send her a message she receives.
	run(t, ctx, "find the user",
		chromedp.SetValue(chromedp.CSS("#find-user-id"), "alice"),
		chromedp.Click(chromedp.CSS("#find-user button[type=submit]")))
	waitText(t, ctx, "alice's presence", "#user-online", func(s string) bool { return s == "online" })
	waitText(t, ctx, "alice's connection", "#user table", contains("native"))
	run(t, ctx, "send a message",
		chromedp.SetValue(chromedp.CSS("#send-type"), "console_test"),
		chromedp.SetValue(chromedp.CSS("#send-payload"), `{"from": "the console"}`),
		chromedp.SetValue(chromedp.CSS("#send-priority"), "high"),
		chromedp.Click(chromedp.CSS("#send-message button[type=submit]")))
	m := readMessage(t, alice, "console_test")
	if pl, _ := m["payload"].(map[string]any); pl["from"] != "the console" || m["priority"] != "high" {
		t.Fatalf("alice got %v", m)
	}
	waitText(t, ctx, "the send notice", "#notice", contains("delivered"))
	waitText(t, ctx, "the delivery in the user page", "#user", contains(fmt.Sprint(m["id"])))
	screenshot(t, ctx, "user")

	// Watch a channel; a message published through the API appears.
	run(t, ctx, "watch a channel",
		chromedp.SetValue(chromedp.CSS("#find-channel-name"), "news:1"),
		chromedp.Click(chromedp.CSS("#find-channel button[type=submit]")))
	waitText(t, ctx, "the channel subscription", "#channel-state", func(s string) bool { return s == "watching" })
	post(t, base+"/ws/publish", sign(t, "backend", auth.RoleService),
		map[string]any{"channel": "news:1", "type": "headline", "payload": map[string]any{"title": "seen in the console"}})
	waitText(t, ctx, "the published message in the feed", "#channel-feed", contains("seen in the console"))
	screenshot(t, ctx, "channel")

	// At phone width, in dark mode.
	run(t, ctx, "phone width",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/console/#/"),
		chromedp.Click(chromedp.CSS("#theme")))
	waitText(t, ctx, "the overview at phone width", "#total-connections", func(s string) bool { return s == "1" })
	if !eval[bool](t, ctx, `document.documentElement.classList.contains("dark")`) {
		t.Fatal("the theme button did not switch to dark mode")
	}
	screenshot(t, ctx, "overview-phone-dark")
}

// TestConsoleShowsEveryNodeOfAFleet runs three nodes on one Redis: the
// console on any node lists all three, and a user page finds a
// connection held by another node.
func TestConsoleShowsEveryNodeOfAFleet(t *testing.T) {
	srv := redistest.Start(t)
	var procs []*runtimeproc.Proc
	for range 3 {
		procs = append(procs, runtimeproc.StartOn(t, secret, "127.0.0.1", redistest.FreePort(t), "CONSOLE_ENABLED=true", "REDIS_URL="+srv.URL()))
	}
	procs[2].Connect(t, "bob")
	ctx := browser(t)
	base := "http://" + procs[0].Addr
	signIn(t, ctx, base, sign(t, "ops", auth.RoleAdmin))
	waitText(t, ctx, "three nodes", "#total-nodes", func(s string) bool { return s == "3" })
	for _, p := range procs {
		waitText(t, ctx, "the row of "+p.Addr, "#overview", contains(fmt.Sprintf(":%d", p.Port)))
	}
	waitText(t, ctx, "the fleet's connections", "#total-connections", func(s string) bool { return s == "1" })
	screenshot(t, ctx, "fleet-overview")

	run(t, ctx, "find bob", chromedp.Navigate(base+"/console/#/users/bob"))
	waitText(t, ctx, "bob's connection on the third node", "#user table", contains(fmt.Sprintf(":%d", procs[2].Port)))
}
