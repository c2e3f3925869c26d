package history

import (
	"context"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

func TestMemoryForgetsExpiredChannels(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	msg := message.New("t", nil, message.PriorityNormal)
	if err := m.Append(ctx, "once:1", msg, 10, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	for i := range sweepEvery {
		if err := m.Append(ctx, "busy:1", message.New("t", nil, message.PriorityNormal), 10, time.Hour); err != nil {
			t.Fatal(i, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.chans["once:1"]; ok || len(m.chans) != 1 {
		t.Fatalf("channels kept: %d, the expired one among them: %v", len(m.chans), ok)
	}
}
