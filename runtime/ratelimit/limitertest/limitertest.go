// Package limitertest is the conformance suite every ratelimit.Limiter
// implementation must pass.
package limitertest

import (
	"context"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/ratelimit"
)

// Factory returns a fresh Limiter with no history.
type Factory func(t *testing.T) ratelimit.Limiter

// Run runs every conformance case.
func Run(t *testing.T, newLimiter Factory) {
	ctx := context.Background()
	t.Run("burst up to the limit, then blocked with retry-after", func(t *testing.T) {
		l := newLimiter(t)
		rule := ratelimit.Rule{Limit: 5, Window: time.Minute}
		for i := range 5 {
			d, err := l.Allow(ctx, "k", rule)
			if err != nil || !d.Allowed {
				t.Fatalf("event %d: %+v %v", i, d, err)
			}
		}
		d, err := l.Allow(ctx, "k", rule)
		if err != nil || d.Allowed {
			t.Fatalf("6th event allowed: %+v %v", d, err)
		}
		// One token refills every window/limit = 12s.
		if d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second {
			t.Fatalf("retry after %s, want (0, 12s]", d.RetryAfter)
		}
	})
	t.Run("keys are independent", func(t *testing.T) {
		l := newLimiter(t)
		rule := ratelimit.Rule{Limit: 1, Window: time.Minute}
		if d, _ := l.Allow(ctx, "a", rule); !d.Allowed {
			t.Fatal("a blocked")
		}
		if d, _ := l.Allow(ctx, "b", rule); !d.Allowed {
			t.Fatal("b blocked by a's use")
		}
		if d, _ := l.Allow(ctx, "a", rule); d.Allowed {
			t.Fatal("a allowed twice")
		}
	})
	t.Run("tokens refill", func(t *testing.T) {
		l := newLimiter(t)
		rule := ratelimit.Rule{Limit: 2, Window: 200 * time.Millisecond}
		l.Allow(ctx, "k", rule)
		l.Allow(ctx, "k", rule)
		if d, _ := l.Allow(ctx, "k", rule); d.Allowed {
			t.Fatal("third event allowed at once")
		}
		time.Sleep(250 * time.Millisecond)
		if d, _ := l.Allow(ctx, "k", rule); !d.Allowed {
			t.Fatal("not refilled after a full window")
		}
	})
	t.Run("disabled rule allows everything", func(t *testing.T) {
		l := newLimiter(t)
		for range 100 {
			if d, err := l.Allow(ctx, "k", ratelimit.Rule{}); err != nil || !d.Allowed {
				t.Fatal("disabled rule blocked")
			}
		}
	})
}
