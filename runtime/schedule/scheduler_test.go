package schedule

import (
	"sync"
	"testing"
	"time"
)

func TestSchedulerRunsInOrderAndCancels(t *testing.T) {
	s := New()
	defer s.Close()
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	base := time.Now().Add(20 * time.Millisecond)
	record := func(i int) func() {
		return func() {
			mu.Lock()
			got = append(got, i)
			if len(got) == 3 {
				close(done)
			}
			mu.Unlock()
		}
	}
	s.At(base.Add(30*time.Millisecond), record(3))
	s.At(base.Add(10*time.Millisecond), record(1))
	cancelled := s.At(base.Add(15*time.Millisecond), record(99))
	moved := s.At(base.Add(time.Hour), record(2))
	s.Cancel(cancelled)
	s.Reset(moved, base.Add(20*time.Millisecond))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("callbacks did not run")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("ran %v, want [1 2 3]", got)
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d after all ran", s.Len())
	}
}

func TestSchedulerCloseIsIdempotent(t *testing.T) {
	s := New()
	s.At(time.Now().Add(time.Hour), func() {})
	s.Close()
	s.Close()
}
