// Package queuetest is the conformance suite every queue.Queue
// implementation must pass. The memory queue runs it in its tests; the
// Redis queue runs the same cases against a real redis-server.
package queuetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/queue"
)

// Factory returns a fresh, empty queue configured with cfg.
type Factory func(t *testing.T, cfg queue.Config) queue.Queue

func msg(i int, p message.Priority) *message.Message {
	m := message.New("notification", []byte(fmt.Sprintf(`{"seq":%d}`, i)), p)
	m.ID = fmt.Sprintf("m%03d", i)
	return m
}

func ids(ms []*message.Message) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ","
		}
		s += m.ID
	}
	return s
}

// Run runs every conformance case.
func Run(t *testing.T, newQueue Factory) {
	ctx := context.Background()
	t.Run("FIFO per user", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		for i := range 5 {
			if _, err := q.Push(ctx, "alice", msg(i, message.PriorityNormal)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.Push(ctx, "bob", msg(100, message.PriorityHigh)); err != nil {
			t.Fatal(err)
		}
		got, err := q.Drain(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != "m000,m001,m002,m003,m004" {
			t.Fatalf("drained %s", ids(got))
		}
		if again, _ := q.Drain(ctx, "alice"); len(again) != 0 {
			t.Fatalf("second drain returned %s", ids(again))
		}
		if _, depth, _ := q.Peek(ctx, "bob", 10); depth != 1 {
			t.Fatalf("bob's depth %d", depth)
		}
	})
	t.Run("full queue drops the oldest lowest priority", func(t *testing.T) {
		q := newQueue(t, queue.Config{MaxPerUser: 3})
		push := func(i int, p message.Priority) *message.Message {
			d, err := q.Push(ctx, "u", msg(i, p))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		push(0, message.PriorityHigh)
		push(1, message.PriorityNormal)
		push(2, message.PriorityLow)
		if d := push(3, message.PriorityNormal); d == nil || d.ID != "m002" {
			t.Fatalf("dropped %v, want m002 (the only low)", d)
		}
		if d := push(4, message.PriorityHigh); d == nil || d.ID != "m001" {
			t.Fatalf("dropped %v, want m001 (oldest normal)", d)
		}
		if d := push(5, message.PriorityHigh); d == nil || d.ID != "m003" {
			t.Fatalf("dropped %v, want m003 (oldest normal)", d)
		}
		if d := push(6, message.PriorityHigh); d == nil || d.ID != "m000" {
			t.Fatalf("dropped %v, want m000 (oldest of all-high)", d)
		}
		got, _ := q.Drain(ctx, "u")
		if ids(got) != "m004,m005,m006" {
			t.Fatalf("drained %s", ids(got))
		}
		st, _ := q.Stats(ctx)
		if st.Failed != 4 {
			t.Fatalf("failed %d, want 4", st.Failed)
		}
	})
	t.Run("peek does not remove and respects limit", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		for i := range 4 {
			_, _ = q.Push(ctx, "u", msg(i, message.PriorityNormal))
		}
		got, depth, err := q.Peek(ctx, "u", 2)
		if err != nil || depth != 4 || ids(got) != "m000,m001" {
			t.Fatalf("peek = %s depth %d err %v", ids(got), depth, err)
		}
		if got, _ := q.Drain(ctx, "u"); len(got) != 4 {
			t.Fatalf("drain after peek got %d", len(got))
		}
	})
	t.Run("remove acknowledged messages", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		for i := range 4 {
			_, _ = q.Push(ctx, "u", msg(i, message.PriorityNormal))
		}
		n, err := q.Remove(ctx, "u", []string{"m001", "m003", "nope"})
		if err != nil || n != 2 {
			t.Fatalf("remove = %d, %v", n, err)
		}
		got, depth, _ := q.Peek(ctx, "u", 10)
		if depth != 2 || ids(got) != "m000,m002" {
			t.Fatalf("after remove: %s (depth %d)", ids(got), depth)
		}
		if st, _ := q.Stats(ctx); st.Completed != 2 || st.Waiting != 2 {
			t.Fatalf("stats after remove: %+v", st)
		}
	})
	t.Run("clear", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		for i := range 3 {
			_, _ = q.Push(ctx, "u", msg(i, message.PriorityNormal))
		}
		n, err := q.Clear(ctx, "u")
		if err != nil || n != 3 {
			t.Fatalf("clear = %d, %v", n, err)
		}
		if _, depth, _ := q.Peek(ctx, "u", 10); depth != 0 {
			t.Fatalf("depth after clear %d", depth)
		}
	})
	t.Run("stats", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		_, _ = q.Push(ctx, "a", msg(0, message.PriorityNormal))
		_, _ = q.Push(ctx, "a", msg(1, message.PriorityNormal))
		_, _ = q.Push(ctx, "b", msg(2, message.PriorityNormal))
		st, err := q.Stats(ctx)
		if err != nil || st.Waiting != 3 || st.Users != 2 {
			t.Fatalf("stats %+v err %v", st, err)
		}
		if age := time.Since(st.OldestAt); st.OldestAt.IsZero() || age < -time.Second || age > time.Minute {
			t.Fatalf("stats: oldest queued at %v, want a moment ago", st.OldestAt)
		}
		_, _ = q.Drain(ctx, "a")
		st, _ = q.Stats(ctx)
		if st.Waiting != 1 || st.Users != 1 || st.Completed != 2 {
			t.Fatalf("stats after drain %+v", st)
		}
		_, _ = q.Drain(ctx, "b")
		if st, _ = q.Stats(ctx); !st.OldestAt.IsZero() {
			t.Fatalf("stats with every queue empty: oldest queued at %v, want none", st.OldestAt)
		}
	})
	t.Run("largest queues first", func(t *testing.T) {
		q := newQueue(t, queue.Config{})
		for u, n := range map[string]int{"a": 1, "b": 3, "c": 2} {
			for i := range n {
				_, _ = q.Push(ctx, u, msg(i, message.PriorityNormal))
			}
		}
		top, err := q.Largest(ctx, 2)
		if err != nil || len(top) != 2 || top[0].UserID != "b" || top[0].Depth != 3 || top[1].UserID != "c" || top[1].Depth != 2 {
			t.Fatalf("largest = %+v, %v", top, err)
		}
	})
	t.Run("messages expire", func(t *testing.T) {
		q := newQueue(t, queue.Config{TTL: 200 * time.Millisecond})
		_, _ = q.Push(ctx, "u", msg(0, message.PriorityNormal))
		time.Sleep(300 * time.Millisecond)
		_, _ = q.Push(ctx, "u", msg(1, message.PriorityNormal))
		got, _ := q.Drain(ctx, "u")
		if ids(got) != "m001" {
			t.Fatalf("drained %s, want only the unexpired m001", ids(got))
		}
		st, _ := q.Stats(ctx)
		if st.Expired != 1 {
			t.Fatalf("expired %d, want 1", st.Expired)
		}
	})
}
