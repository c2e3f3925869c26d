package queuetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/queue"
)

// Bench measures one user's offline queue: ten appends, then one drain.
// One op is the eleven calls.
func Bench(b *testing.B, q queue.Queue) {
	ctx := context.Background()
	payload := []byte(`{"title":"Analysis Complete"}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		user := fmt.Sprintf("bench-%d", i%64)
		i++
		for range 10 {
			if _, err := q.Push(ctx, user, message.New("notification", payload, message.PriorityNormal)); err != nil {
				b.Fatal(err)
			}
		}
		msgs, err := q.Drain(ctx, user)
		if err != nil || len(msgs) != 10 {
			b.Fatalf("drained %d, %v", len(msgs), err)
		}
	}
}
