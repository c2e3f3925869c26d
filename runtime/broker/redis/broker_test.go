package redisbroker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/broker/brokertest"
	redisbroker "github.com/fleetwire/fleetwire/runtime/broker/redis"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func newBroker(t *testing.T, srv *redistest.Server, onReconnect func()) *redisbroker.Broker {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	b, err := redisbroker.New(redisbroker.Config{Client: client, HealthInterval: 200 * time.Millisecond, OnReconnect: onReconnect})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, srv, nil) })
}

// TestTwoNodes checks fan-out between two brokers, as two runtime nodes
// sharing one Redis would use them.
func TestTwoNodes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := newBroker(t, srv, nil), newBroker(t, srv, nil)
	got := make(chan string, 10)
	if err := a.Start(func(string, *message.Message) {}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(func(topic string, m *message.Message) { got <- topic + " " + m.ID }); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	_ = b.Subscribe(ctx, "u:alice")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m := message.New("t", nil, message.PriorityNormal)
	n, err := a.Publish(ctx, "u:alice", m)
	if err != nil || n != 1 {
		t.Fatalf("publish reached %d nodes, err %v", n, err)
	}
	select {
	case g := <-got:
		if g != "u:alice "+m.ID {
			t.Fatalf("got %s", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message did not cross nodes")
	}
}

// TestResubscribesAfterRedisRestart restarts redis-server under a
// subscribed broker: delivery must resume by itself, and the reconnect
// must be reported.
func TestResubscribesAfterRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var reconnects atomic.Int32
	b := newBroker(t, srv, func() { reconnects.Add(1) })
	got := make(chan string, 100)
	if err := b.Start(func(_ string, m *message.Message) { got <- m.ID }); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.Subscribe(ctx, "c:news")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	pub := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer pub.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := message.New("t", nil, message.PriorityNormal)
		payload := `{"m":{"id":"` + m.ID + `","type":"t","payload":null,"priority":"normal","timestamp":""}}`
		if n, _ := pub.Publish(ctx, redisbroker.DefaultPrefix+"ch:c:news", payload).Result(); n > 0 {
			select {
			case id := <-got:
				if id != m.ID {
					t.Fatalf("got %s, want %s", id, m.ID)
				}
				if reconnects.Load() == 0 {
					t.Fatal("delivery resumed but no reconnect was reported")
				}
				return
			case <-time.After(5 * time.Second):
				t.Fatal("resubscribed but the message never arrived")
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the broker never resubscribed after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterConformance runs the suite on a real six-node Redis Cluster,
// where the broker uses sharded pub/sub, and checks that the channels are
// shard channels on the node that owns their slot.
func TestClusterConformance(t *testing.T) {
	cl := redistest.StartCluster(t)
	newCluster := func(t *testing.T) *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		b, err := redisbroker.New(redisbroker.Config{Client: newCluster(t)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	t.Run("channels are shard channels", func(t *testing.T) {
		ctx := context.Background()
		c := newCluster(t)
		b, _ := redisbroker.New(redisbroker.Config{Client: c})
		if err := b.Start(func(string, *message.Message) {}); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_ = b.Subscribe(ctx, "c:sharded-check")
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		ch := redisbroker.DefaultPrefix + "ch:c:sharded-check"
		master, err := c.MasterForKey(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		res, err := master.Do(ctx, "PUBSUB", "SHARDNUMSUB", ch).Slice()
		if err != nil || len(res) != 2 || res[1].(int64) != 1 {
			t.Fatalf("PUBSUB SHARDNUMSUB %s = %v, %v", ch, res, err)
		}
		if n, err := c.PubSubNumSub(ctx, ch).Result(); err != nil || n[ch] != 0 {
			t.Fatalf("also a classic subscription: %v %v", n, err)
		}
	})
}

// TestClusterFailoverMovesShardSubscriptions kills the master that holds
// a subscribed channel's slot: once its replica takes over, the broker
// subscribes the channel there and delivery resumes.
func TestClusterFailoverMovesShardSubscriptions(t *testing.T) {
	cl := redistest.StartCluster(t)
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer c.Close()
	var reconnects atomic.Int32
	b, err := redisbroker.New(redisbroker.Config{Client: c, HealthInterval: 200 * time.Millisecond, OnReconnect: func() { reconnects.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	if err := b.Start(func(_ string, m *message.Message) { got <- m.ID }); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.Subscribe(ctx, "c:failover")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	master, err := c.MasterForKey(ctx, redisbroker.DefaultPrefix+"ch:c:failover")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes {
		if n.Addr() == master.Options().Addr {
			n.Stop()
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := message.New("t", nil, message.PriorityNormal)
		if n, err := b.Publish(ctx, "c:failover", m); err == nil && n > 0 {
			select {
			case id := <-got:
				if id != m.ID {
					continue
				}
				if reconnects.Load() == 0 {
					t.Fatal("delivery resumed without a reported move")
				}
				return
			case <-time.After(5 * time.Second):
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("delivery did not resume after the failover")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkPublish is the Redis publish path: one publication to a topic
// another broker (node) is subscribed to, until it has arrived there.
func BenchmarkPublish(b *testing.B) {
	srv := redistest.Start(b)
	newB := func() *redisbroker.Broker {
		client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		b.Cleanup(func() { _ = client.Close() })
		br, err := redisbroker.New(redisbroker.Config{Client: client})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
		return br
	}
	pub, sub := newB(), newB()
	got := make(chan struct{}, 1024)
	if err := pub.Start(func(string, *message.Message) {}); err != nil {
		b.Fatal(err)
	}
	if err := sub.Start(func(string, *message.Message) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := sub.Subscribe(ctx, "c:bench"); err != nil {
		b.Fatal(err)
	}
	if err := sub.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"text":"hello"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pub.Publish(ctx, "c:bench", message.New("news", payload, message.PriorityNormal)); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}
