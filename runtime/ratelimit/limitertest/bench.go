package limitertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/ratelimit"
)

// Bench measures one limiter decision, over 1,000 keys, under a rule that
// allows every call.
func Bench(b *testing.B, l ratelimit.Limiter) {
	ctx := context.Background()
	rule := ratelimit.Rule{Limit: 1 << 30, Window: time.Minute}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("msg:user-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, keys[i%len(keys)], rule); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
