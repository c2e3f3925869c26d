package auth

import (
	"context"
	"testing"
	"time"
)

func TestVerifyRoundTrip(t *testing.T) {
	secret := []byte("unit-test-secret-0123456789abcdef")
	v, err := NewVerifier(Config{Secret: secret}, NewMemoryDenylist())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SignHS256(secret, TokenRequest{UserID: "alice", Roles: []string{RoleAdmin}, Teams: []string{"red"}, Tier: "premium", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID() != "alice" || !c.HasRole(RoleAdmin) || !c.InTeam("red") || c.Tier != "premium" || c.ID == "" || c.Expiry().IsZero() {
		t.Fatalf("claims %+v", c)
	}
	if v.Leeway() != DefaultLeeway {
		t.Fatalf("leeway %s", v.Leeway())
	}
}

func TestNewVerifierErrors(t *testing.T) {
	if _, err := NewVerifier(Config{}, nil); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := NewVerifier(Config{PublicKeyPEM: []byte("not pem")}, nil); err == nil {
		t.Fatal("bad PEM accepted")
	}
}

// BenchmarkVerifyHS256 measures the handshake's token check: time and
// allocations per verification with the key parsed once.
func BenchmarkVerifyHS256(b *testing.B) {
	secret := []byte("bench-secret-0123456789abcdef0123")
	v, err := NewVerifier(Config{Secret: secret}, NewMemoryDenylist())
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := SignHS256(secret, TokenRequest{UserID: "alice", Roles: []string{"service"}, Teams: []string{"a", "b"}, TTL: time.Hour})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
