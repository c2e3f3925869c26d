package queue_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/queue/queuetest"
)

func TestMemoryConformance(t *testing.T) {
	queuetest.Run(t, func(_ *testing.T, cfg queue.Config) queue.Queue { return queue.NewMemory(cfg) })
}

func BenchmarkMemoryPushDrain(b *testing.B) {
	queuetest.Bench(b, queue.NewMemory(queue.Config{}))
}
