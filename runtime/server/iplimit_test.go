package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Past its rate, an address's connections get a bare 429 with Retry-After
// and a JSON error, before the server reads them; another address is not
// held back, and the bucket refills.
func TestIPRateListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	limited := newIPRateListener(ln, 3, 0, func(string) { refused.Add(1) })
	// Short enough that the bucket (3 a second) refills less than a token
	// while a refusal is held, even on a slow machine.
	limited.hold = 100 * time.Millisecond
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })
	get := func(from string) (*http.Response, string) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext,
		}}
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	codes := []int{}
	var last *http.Response
	var body string
	for i := range 5 {
		start := time.Now()
		last, body = get("127.0.0.1")
		codes = append(codes, last.StatusCode)
		// A refusal is held until its Retry-After; this bounds only from
		// below, so a slow machine cannot fail it.
		if took := time.Since(start); last.StatusCode == 429 && took < limited.hold {
			t.Errorf("refusal %d answered after %s, before the hold of %s", i, took, limited.hold)
		}
	}
	if want := []int{200, 200, 200, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	var e struct{ Error struct{ Code string } }
	if last.Header.Get("Retry-After") != "1" || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "rate_limited" {
		t.Fatalf("the refusal: Retry-After %q, body %s", last.Header.Get("Retry-After"), body)
	}
	if resp, _ := get("127.0.0.2"); resp.StatusCode != 200 {
		t.Fatalf("another address got %d", resp.StatusCode)
	}
	time.Sleep(400 * time.Millisecond) // one token back at 3 a second
	if resp, _ := get("127.0.0.1"); resp.StatusCode != 200 {
		t.Fatalf("after the bucket refilled: %d", resp.StatusCode)
	}
	if n := refused.Load(); n != 2 {
		t.Fatalf("%d refusals counted, want 2", n)
	}
}

// While net/http is refusing a request of an address on its own (431 for
// headers over the limit, the connection kept half a second after the
// answer), the connection holds a token of the address's bad-request
// bucket (here 1): the address's next connections are refused as they
// connect, good requests and all, until it closes; another address is not
// held back. Such a refusal leaves no debt, nor do slow headers cut off,
// good requests, or connections that send nothing: a network fault can
// cut a request short the same way.
func TestRequestsBeingRefusedHoldATokenEach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refusedBy sync.Map
	limited := newIPRateListener(ln, 0, 1, func(rule string) {
		n, _ := refusedBy.LoadOrStore(rule, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	})
	limited.hold = 50 * time.Millisecond
	srv := &http.Server{MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 200 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	newRefusedWatch(limited.unresolvedRequest).watch(srv)
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })

	get := func(from string, header http.Header) *http.Response {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext,
		}}
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// What the address may still spend.
	tokens := func(ip string) float64 {
		limited.mu.Lock()
		defer limited.mu.Unlock()
		if b := limited.buckets[ip]; b != nil {
			return b.bad.Tokens() - float64(b.unresolved)
		}
		return 1
	}
	oversized := http.Header{"X-Big": {strings.Repeat("a", 8<<10)}}
	// Good requests, and connections that send nothing, cost nothing.
	for range 5 {
		if resp := get("127.0.0.1", nil); resp.StatusCode != 200 {
			t.Fatalf("a good request: %d", resp.StatusCode)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// The first oversized request is answered 431 and its connection
	// kept; the client asks again at once.
	codes := []int{get("127.0.0.1", oversized).StatusCode, get("127.0.0.1", oversized).StatusCode}
	last := get("127.0.0.1", nil)
	codes = append(codes, last.StatusCode)
	if want := []int{431, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	if ra := last.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	if resp := get("127.0.0.2", nil); resp.StatusCode != 200 {
		t.Fatalf("another address got %d", resp.StatusCode)
	}
	// Once the 431's connection has closed, the address is as it was.
	eventually(t, func() bool { return tokens("127.0.0.1") >= 1 })
	if resp := get("127.0.0.1", nil); resp.StatusCode != 200 {
		t.Fatalf("after the refused request's connection closed: %d", resp.StatusCode)
	}
	// Headers cut off for being slow leave nothing behind either.
	slow, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(slow, "GET / HTTP/1.1\r\n")
	_, _ = io.Copy(io.Discard, slow) // until the server cuts it
	slow.Close()
	eventually(t, func() bool {
		limited.mu.Lock()
		defer limited.mu.Unlock()
		b := limited.buckets["127.0.0.3"]
		return b != nil && b.unresolved == 0
	})
	if got := tokens("127.0.0.3"); got < 1 {
		t.Fatalf("slow headers cut off left %.2f tokens, want 1", got)
	}
	if n, _ := refusedBy.Load("bad_requests"); n == nil || n.(*atomic.Int32).Load() != 2 {
		t.Fatalf("refusals counted as bad_requests: %v, want 2", n)
	}
}

// Bad requests past the rate put the address in debt: it is told to come
// back once the debt is repaid, not sooner.
func TestBadRequestDebt(t *testing.T) {
	l := newIPRateListener(nil, 0, 2, nil)
	addr := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1234}
	if ra, _ := l.allow(addr, time.Now()); ra != 0 {
		t.Fatalf("a fresh address told to wait %ds", ra)
	}
	for range 6 { // 2 in the bucket, 4 owed
		l.badRequest("127.0.0.1:999")
	}
	ra, rule := l.allow(addr, time.Now())
	if ra != 3 || rule != "bad_requests" { // 5 tokens to the next one, at 2 a second
		t.Fatalf("told to wait %ds by %q, want 3s by bad_requests", ra, rule)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}
