package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
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
	limited := newIPRateListener(ln, 3, func() { refused.Add(1) })
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
