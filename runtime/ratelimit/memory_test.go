package ratelimit_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/ratelimit/limitertest"
)

func TestMemoryConformance(t *testing.T) {
	limitertest.Run(t, func(*testing.T) ratelimit.Limiter { return ratelimit.NewMemory() })
}

func BenchmarkMemoryAllow(b *testing.B) { limitertest.Bench(b, ratelimit.NewMemory()) }
