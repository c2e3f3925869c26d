package e2e

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// BenchmarkChannelFanout publishes one message per iteration to a channel
// with 1000 subscribers on loopback and waits until every subscriber has
// read it. deliveries/s counts messages read by clients; µs-in-publish/op
// is how long the Publish call itself took, what a publisher waits for.
func BenchmarkChannelFanout(b *testing.B) {
	const subscribers = 1000
	n := startNodeB(b, func(c *config.Config) {
		c.RateLimit.Max = 0
		c.RateLimit.ConnectionsPerIP = config.Rule{} // every subscriber dials from 127.0.0.1
		c.Limits.MaxConnections = subscribers + 10
		c.Log.Level = "warn"
	})
	var received atomic.Int64
	for i := range subscribers {
		c := dialB(b, n, userToken(b, fmt.Sprintf("sub%d", i)))
		c.subscribeB(b, "bench:fanout")
		go func() {
			for {
				_, p, err := c.ws.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(p, []byte(`"event":"bench"`)) {
					received.Add(1)
				}
			}
		}()
	}
	payload := []byte(`{"text":"` + string(bytes.Repeat([]byte("x"), 100)) + `"}`)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var inPublish time.Duration // what the publisher waited for
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := n.srv.Hub().Publish(ctx, "bench:fanout", message.New("bench", payload, message.PriorityNormal)); err != nil {
			b.Fatal(err)
		}
		inPublish += time.Since(t0)
		want := int64(i+1) * subscribers
		for received.Load() < want {
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(received.Load())/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(inPublish.Microseconds())/float64(b.N), "µs-in-publish/op")
}
