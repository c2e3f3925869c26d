// Package denylisttest is the conformance suite every auth.Denylist
// implementation must pass.
package denylisttest

import (
	"context"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

// Factory returns a fresh, empty Denylist.
type Factory func(t *testing.T) auth.Denylist

// Run runs every conformance case.
func Run(t *testing.T, newDenylist Factory) {
	ctx := context.Background()
	t.Run("revoked until expiry", func(t *testing.T) {
		d := newDenylist(t)
		if err := d.Revoke(ctx, "j1", time.Now().Add(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if ok, err := d.IsRevoked(ctx, "j1"); err != nil || !ok {
			t.Fatalf("j1 not revoked: %v", err)
		}
		if ok, _ := d.IsRevoked(ctx, "j2"); ok {
			t.Fatal("j2 revoked")
		}
		time.Sleep(400 * time.Millisecond)
		if ok, _ := d.IsRevoked(ctx, "j1"); ok {
			t.Fatal("j1 still revoked after its expiry")
		}
	})
	t.Run("revoking again extends and never shortens", func(t *testing.T) {
		d := newDenylist(t)
		_ = d.Revoke(ctx, "j", time.Now().Add(100*time.Millisecond))
		_ = d.Revoke(ctx, "j", time.Now().Add(time.Hour))
		_ = d.Revoke(ctx, "j", time.Now().Add(50*time.Millisecond))
		time.Sleep(200 * time.Millisecond)
		if ok, _ := d.IsRevoked(ctx, "j"); !ok {
			t.Fatal("extension lost")
		}
	})
}
