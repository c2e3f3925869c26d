package schedule

import (
	"container/heap"
	"sync"
	"time"
)

// Entry is one scheduled callback. It is owned by the Scheduler; callers
// keep it only to Reset or Cancel it.
type Entry struct {
	at    time.Time
	fn    func()
	index int // position in the heap; -1 when not scheduled
}

// Scheduler runs callbacks at their due time from one goroutine. Callbacks
// must be short and must not block: they only enqueue work (a ping frame, a
// close) for the connection's own writer.
type Scheduler struct {
	mu      sync.Mutex
	h       entryHeap
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// New starts a Scheduler. Close stops it.
func New() *Scheduler {
	s := &Scheduler{
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.run()
	return s
}

// At schedules fn to run at t and returns its entry.
func (s *Scheduler) At(t time.Time, fn func()) *Entry {
	e := &Entry{at: t, fn: fn, index: -1}
	s.Reset(e, t)
	return e
}

// Reset moves e to run at t, scheduling it again if it already ran or was
// cancelled.
func (s *Scheduler) Reset(e *Entry, t time.Time) {
	s.mu.Lock()
	e.at = t
	if e.index >= 0 {
		heap.Fix(&s.h, e.index)
	} else {
		heap.Push(&s.h, e)
	}
	first := s.h[0] == e
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// Cancel unschedules e. It is safe to cancel an entry that already ran.
func (s *Scheduler) Cancel(e *Entry) {
	if e == nil {
		return
	}
	s.mu.Lock()
	if e.index >= 0 {
		heap.Remove(&s.h, e.index)
	}
	s.mu.Unlock()
}

// Len returns the number of scheduled entries.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

// Close stops the scheduler and waits for its goroutine. Pending entries
// never run. Close is idempotent.
func (s *Scheduler) Close() {
	s.once.Do(func() { close(s.done) })
	<-s.stopped
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// idleWait is how long the loop sleeps with nothing scheduled; any At or
// Reset wakes it sooner.
const idleWait = time.Hour

func (s *Scheduler) run() {
	defer close(s.stopped)
	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	var due []*Entry
	for {
		now := time.Now()
		s.mu.Lock()
		for len(s.h) > 0 && !s.h[0].at.After(now) {
			due = append(due, heap.Pop(&s.h).(*Entry))
		}
		wait := idleWait
		if len(s.h) > 0 {
			wait = s.h[0].at.Sub(now)
		}
		s.mu.Unlock()
		for i, e := range due {
			e.fn()
			due[i] = nil
		}
		due = due[:0]
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

type entryHeap []*Entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*Entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
