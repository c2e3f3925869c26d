package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
)

// TestPacedSmoke runs a short paced fan-out against a real runtime
// process: 20 subscribers, 20 publishes a second for a second, nothing
// lost, and every figure filled in.
func TestPacedSmoke(t *testing.T) {
	secret := "smoke-secret-0123456789abcdef0123456789"
	p := runtimeproc.Start(t, []byte(secret))
	o := options{url: "ws://" + p.Addr + "/ws", conns: 20, users: 20, concurrency: 4, secret: secret,
		rate: 20, duration: time.Second, drain: 5 * time.Second, pad: 100}
	o.urls = []string{o.url}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens := smokeTokens(t, secret, "smoke-", o.users)
	track = newTracker(20)
	defer func() { track = nil }()
	conns, _, err := dialAll(ctx, o, tokens)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	if err := paced(ctx, o, len(conns)); err != nil {
		t.Fatal(err)
	}
	if got := track.received.Load(); got != 400 {
		t.Fatalf("received %d, want 400", got)
	}
	if track.latency.quantile(0.99) <= 0 {
		t.Fatal("no latency recorded")
	}
}

// TestConnectRateSmoke opens and closes 50 connections from two loopback
// source addresses against a real runtime process.
func TestConnectRateSmoke(t *testing.T) {
	secret := "smoke-secret-0123456789abcdef0123456789"
	p := runtimeproc.Start(t, []byte(secret))
	o := options{url: "ws://" + p.Addr + "/ws", conns: 50, users: 50, concurrency: 5, secret: secret, sources: 2,
		pid: p.Cmd.Process.Pid}
	o.urls = []string{o.url}
	tokens := smokeTokens(t, secret, "rate-", o.users)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := connectRate(ctx, o, tokens); err != nil {
		t.Fatal(err)
	}
}

// TestStormSmoke drops 30 held connections at once and redials them.
func TestStormSmoke(t *testing.T) {
	secret := "smoke-secret-0123456789abcdef0123456789"
	p := runtimeproc.Start(t, []byte(secret))
	o := options{url: "ws://" + p.Addr + "/ws", conns: 30, users: 30, concurrency: 10, secret: secret, pid: p.Cmd.Process.Pid}
	o.urls = []string{o.url}
	tokens := smokeTokens(t, secret, "storm-", o.users)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conns, _, err := dialAll(ctx, o, tokens)
	if err != nil {
		t.Fatal(err)
	}
	if err := storm(ctx, o, conns, tokens); err != nil {
		t.Fatal(err)
	}
}

// TestChurnSmoke runs a few seconds of churn against a real runtime
// process, over both protocols: connections come and go every half
// second or so while messages go to their users, and every accepted
// message is read.
func TestChurnSmoke(t *testing.T) {
	secret := "smoke-secret-0123456789abcdef0123456789"
	p := runtimeproc.Start(t, []byte(secret))
	for _, proto := range []struct {
		name, path string
		socketIO   bool
	}{{"native", "/ws", false}, {"socketio", "/socket.io/", true}} {
		t.Run(proto.name, func(t *testing.T) {
			o := options{url: "ws://" + p.Addr + proto.path, conns: 20, users: 20, secret: secret, sources: 20,
				socketIO: proto.socketIO, rate: 100, duration: 3 * time.Second, drain: 2 * time.Second,
				lifetime: 400 * time.Millisecond, offline: 100 * time.Millisecond, userPrefix: "load-"}
			o.urls = []string{o.url}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tokens := smokeTokens(t, secret, "load-", o.users)
			res, err := churn(ctx, o, tokens)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reconnects < int64(o.conns) || res.Accepted < res.Sent*9/10 || res.Delivered != res.Accepted {
				t.Fatalf("%+v: want every connection to have come back at least once, and every accepted message read", res)
			}
		})
	}
}

// smokeTokens signs n user tokens, prefix0 to prefix<n-1>.
func smokeTokens(t *testing.T, secret, prefix string, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		var err error
		if tokens[i], err = auth.SignHS256([]byte(secret), auth.TokenRequest{UserID: fmt.Sprintf("%s%d", prefix, i), TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}
