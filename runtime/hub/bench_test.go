package hub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// discardConn is a Conn that frames each message as a real transport
// does, once per message for all connections, and then drops it: the
// benchmarks measure the hub, not a socket.
type discardConn struct {
	sent   atomic.Int64
	closed atomic.Bool
	end    func() // ends the session, as a transport does once it stops
}

func (c *discardConn) SendPrepared(p *protocol.Prepared, o protocol.Outgoing) error {
	if _, err := p.Form(discardKey{}, func(b []byte) (any, error) { return len(b), nil }); err != nil {
		return err
	}
	c.sent.Add(1)
	return nil
}

type discardKey struct{}

func (c *discardConn) SendText([]byte) error { c.sent.Add(1); return nil }
func (c *discardConn) Close(int, string)     { c.Abort() }

func (c *discardConn) Abort() {
	if c.closed.CompareAndSwap(false, true) && c.end != nil {
		go c.end()
	}
}

func (c *discardConn) Closed() bool                { return c.closed.Load() }
func (c *discardConn) DropPending() []any          { return nil }
func (c *discardConn) WaitIdle(time.Duration) bool { return true }

// BenchmarkPublishToLocalSubscribers publishes to one channel with n
// subscribers on this node, in memory: the work of the publish call
// itself, from the history append to the last session's queue. One op is
// one publication to all n.
func BenchmarkPublishToLocalSubscribers(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = h.Shutdown(ctx)
			})
			conns := make([]*discardConn, n)
			for i := range conns {
				conns[i] = &discardConn{}
				s, err := h.Accept(conns[i], protocol.JSON{}, claimsFor(fmt.Sprintf("u%d", i)), Meta{ConnID: fmt.Sprintf("c%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				conns[i].end = func() { s.End(nil) }
				if perr := s.subscribe("bench:1"); perr != nil {
					b.Fatal(perr)
				}
			}
			ctx := context.Background()
			payload := []byte(`{"text":"hello, subscribers"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.Publish(ctx, "bench:1", message.New("news", payload, message.PriorityNormal)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
