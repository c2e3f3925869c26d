package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// shortToken is a user's HS256 token that expires in d.
func shortToken(t *testing.T, user string, d time.Duration, jti string) string {
	return signWith(t, jwt.SigningMethodHS256, []byte(testSecret), baseClaims(func(c jwt.MapClaims) {
		c["sub"], c["exp"], c["jti"] = user, time.Now().Add(d).Unix(), jti
	}))
}

// checkRefresh runs on node n; revocations go through admin, which may be
// another node of the fleet.
func checkRefresh(t *testing.T, n, admin *node) {
	revoked := auth.NewJTI()
	mustStatus(t, call(t, "POST", admin.base+"/admin/tokens/revoke", adminToken(t), map[string]any{"jti": revoked}), 200)

	alice := dial(t, n, shortToken(t, "alice", 3*time.Second, auth.NewJTI()))
	var warn struct {
		ExpiresAt   string
		ExpiresInMs int64
	}
	alice.expect("token_expiring").decode(t, &warn)
	t.Logf("token_expiring: %+v", warn)
	if warn.ExpiresInMs <= 0 || warn.ExpiresInMs > 2000 {
		t.Errorf("token_expiring %+v: want about 1s before exp", warn)
	}
	for _, tc := range []struct {
		name, token, code string
	}{
		{"another user's token", shortToken(t, "mallory", time.Hour, auth.NewJTI()), "token_refused"},
		{"a revoked token", shortToken(t, "alice", time.Hour, revoked), "token_revoked"},
		{"an expired token", shortToken(t, "alice", -time.Minute, auth.NewJTI()), "token_expired"},
		{"garbage", "not.a.jwt", "token_malformed"},
		{"no token", "", "invalid_data"},
	} {
		f := alice.request("refresh", map[string]any{"token": tc.token})
		var e errorData
		f.decode(t, &e)
		if f.Event != "error" || e.Code != tc.code {
			t.Errorf("refresh with %s: %s %s, want error %s", tc.name, f.Event, f.Data, tc.code)
		}
	}
	f := alice.request("refresh", map[string]any{"token": shortToken(t, "alice", time.Hour, auth.NewJTI())})
	var reply struct{ UserID, ExpiresAt string }
	f.decode(t, &reply)
	if f.Event != "ack" || reply.UserID != "alice" || reply.ExpiresAt == "" {
		t.Fatalf("refresh: %s %s", f.Event, f.Data)
	}
	time.Sleep(3 * time.Second) // past the first token's exp
	if f := alice.request("ping", nil); f.Event != "ack" {
		t.Fatalf("after the first token's exp: %s %s", f.Event, f.Data)
	}

	// A refused refresh leaves the old expiry in place.
	bob := dial(t, n, shortToken(t, "bob", 2*time.Second, auth.NewJTI()))
	if f := bob.request("refresh", map[string]any{"token": shortToken(t, "alice", time.Hour, auth.NewJTI())}); f.Event != "error" {
		t.Fatalf("bob refreshing with alice's token: %s %s", f.Event, f.Data)
	}
	bob.expect("token_expiring")
	if code, reason := bob.expectClose(); code != 4001 {
		t.Fatalf("bob's close: %d %s, want 4001", code, reason)
	}
}

func TestTokenRefresh(t *testing.T) {
	t.Parallel() // it mostly waits for tokens to expire
	n := startNode(t, func(c *config.Config) {
		c.Auth.Leeway = config.Duration{}
		c.Auth.ExpiryWarning = config.Duration{Duration: time.Second}
	})
	checkRefresh(t, n, n)
}

func TestTokenRefreshAcrossNodes(t *testing.T) {
	t.Parallel()
	_, nodes := startFleet(t, 3, "auth:\n  leeway: 0s\n  expiryWarning: 1s\n")
	checkRefresh(t, nodes[2], nodes[0])
}

// TestRefreshWithFewerRolesLeavesChannels: a refreshed token that no
// longer has the role a channel needs takes the connection off it.
func TestRefreshWithFewerRolesLeavesChannels(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{"ops": {Allow: channel.AllowRoles, Roles: []string{"oncall"}}}
	})
	c := dial(t, n, token(t, auth.TokenRequest{UserID: "dana", Roles: []string{"oncall"}}))
	if r := c.subscribe("ops:1", "news:1"); !r[0].OK || !r[1].OK {
		t.Fatalf("subscribe: %+v", r)
	}
	c.nextID++
	c.write(map[string]any{"event": "refresh", "id": c.nextID, "data": map[string]any{"token": token(t, auth.TokenRequest{UserID: "dana"})}})
	var un struct{ Channels []string }
	c.expect("unsubscribed").decode(t, &un)
	if fmt.Sprint(un.Channels) != "[ops:1]" {
		t.Fatalf("unsubscribed %v, want [ops:1]", un.Channels)
	}
	if f := c.expect("ack"); f.ID == nil || *f.ID != c.nextID {
		t.Fatalf("refresh ack: %+v", f)
	}
	mustStatus(t, call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "ops:1", "type": "page"}), 200)
	mustStatus(t, call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "news:1", "type": "headline"}), 200)
	if m := c.expectMessage("headline"); m.Channel != "news:1" {
		t.Fatalf("got %+v, want only news:1", m)
	}
}

// TestRefreshKeepsTheKey runs a node that takes both HS256 tokens (the
// secret) and RS256 ones (a public key): a connection opened with one
// key's token is refreshed only with a token of the same key, even for
// the same user, and keeps its claims when refused.
func TestRefreshKeepsTheKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := writePEM(t, t.TempDir(), "rsa.pem", &rsaKey.PublicKey)
	n := startNode(t, func(c *config.Config) { c.Auth.PublicKeyFile = pub })
	hs := func() string { return signWith(t, jwt.SigningMethodHS256, []byte(testSecret), baseClaims(nil)) }
	rs := func() string { return signWith(t, jwt.SigningMethodRS256, rsaKey, baseClaims(nil)) }
	for _, tc := range []struct {
		name          string
		first, other  func() string
		firstAlg, alt string
	}{
		{"opened with HS256", hs, rs, "HS256", "RS256"},
		{"opened with RS256", rs, hs, "RS256", "HS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n, tc.first())
			f := c.request("refresh", map[string]any{"token": tc.other()})
			var e errorData
			f.decode(t, &e)
			if f.Event != "error" || e.Code != "token_refused" || !strings.Contains(e.Message, tc.alt+", not "+tc.firstAlg) {
				t.Fatalf("refresh with the other key's token: %s %s, want token_refused naming both keys", f.Event, f.Data)
			}
			if f := c.request("refresh", map[string]any{"token": tc.first()}); f.Event != "ack" {
				t.Fatalf("refresh with the same key's token: %s %s", f.Event, f.Data)
			}
		})
	}
}
