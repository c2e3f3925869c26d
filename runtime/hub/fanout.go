package hub

import (
	"context"
	"hash/maphash"
	"sync/atomic"
)

// The channel fan-out. Handing one publication to thousands of local
// sessions costs milliseconds, most of it starting each idle
// connection's writer (docs/benchmarks.md), and a publisher should not
// wait for that. So a publication to more than inlineFanout sessions is
// handed to a fan-out worker and the call returns; the worker delivers.
//
// Order is kept per channel: every channel maps to one worker, whose
// queue is first in, first out, and a small publication is delivered in
// place only when that worker has nothing pending, so it cannot overtake
// an earlier one of the same channel. What deliverChannel does before
// the hand-off (the channel's mark of the last publication delivered,
// what this node delivered lately) stays in place and in order, so the
// gap fill's bookkeeping is as before.

// inlineFanout is the most sessions a publication is delivered to in
// place.
const inlineFanout = 32

// fanoutWorkers is how many workers deliver large publications;
// fanoutQueue bounds each one's queue, past which a publisher waits.
const (
	fanoutWorkers = 8
	fanoutQueue   = 1024
)

type fanoutTask struct {
	subs    []*Session
	out     *outbound
	barrier chan struct{} // closed when reached, for fanoutBarrier; subs and out unset
}

type fanoutWorker struct {
	tasks   chan fanoutTask
	pending atomic.Int64 // tasks queued or running
}

type fanout struct {
	seed    maphash.Seed
	workers [fanoutWorkers]fanoutWorker
}

// startFanout starts the workers on goroutines the hub owns.
func (h *Hub) startFanout() {
	h.fan.seed = maphash.MakeSeed()
	for i := range h.fan.workers {
		w := &h.fan.workers[i]
		w.tasks = make(chan fanoutTask, fanoutQueue)
		h.spawn(func(ctx context.Context) { w.run(ctx) })
	}
}

func (w *fanoutWorker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-w.tasks:
			for _, s := range t.subs {
				s.deliver(t.out, false)
			}
			if t.barrier != nil {
				close(t.barrier)
			}
			w.pending.Add(-1)
		}
	}
}

// deliverToSubscribers hands out to the channel's sessions: in place
// when they are few and nothing of the channel is pending, else through
// the channel's worker.
func (h *Hub) deliverToSubscribers(name string, subs []*Session, out *outbound) {
	w := h.fanoutWorker(name)
	if len(subs) <= inlineFanout && w.pending.Load() == 0 {
		for _, s := range subs {
			s.deliver(out, false)
		}
		return
	}
	w.pending.Add(1)
	select {
	case w.tasks <- fanoutTask{subs: subs, out: out}:
	case <-h.ctx.Done():
		w.pending.Add(-1)
	}
}

func (h *Hub) fanoutWorker(name string) *fanoutWorker {
	return &h.fan.workers[maphash.String(h.fan.seed, name)%fanoutWorkers]
}

// fanoutBarrier waits, at most ctx allows, until the channel's worker has
// delivered everything handed to it before the call: a session that
// replays a channel's history must have its held live copies in hand
// before it stops holding (Session.releaseChannel).
func (h *Hub) fanoutBarrier(ctx context.Context, name string) {
	w := h.fanoutWorker(name)
	if w.pending.Load() == 0 {
		return
	}
	done := make(chan struct{})
	w.pending.Add(1)
	select {
	case w.tasks <- fanoutTask{barrier: done}:
	case <-ctx.Done():
		w.pending.Add(-1)
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}
