package broker

import (
	"context"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Handler receives every publication on a topic this node subscribed to.
// It is called from the broker's goroutines and must not block on network
// I/O: the hub only enqueues into per-connection queues.
type Handler func(topic string, msg *message.Message)

// Broker carries publications between nodes. A node subscribes only to the
// topics its local connections need.
type Broker interface {
	// Start registers the handler and begins delivery. It is called once.
	Start(h Handler) error
	// Publish sends msg to every node subscribed to topic and returns how
	// many subscribers it reached (0 means nobody is listening).
	Publish(ctx context.Context, topic string, msg *message.Message) (int, error)
	// Subscribe adds topics to this node's subscriptions. The hub calls
	// Subscribe and Unsubscribe under its registry locks, so they must not
	// wait on the network: a networked broker records the wanted set and
	// applies it in batches from its own goroutine.
	Subscribe(ctx context.Context, topics ...string) error
	// Unsubscribe removes topics from this node's subscriptions.
	Unsubscribe(ctx context.Context, topics ...string) error
	// Sync waits until every earlier Subscribe and Unsubscribe has taken
	// effect, so that a publication made after it returns reaches the
	// node. The hub calls it outside its locks.
	Sync(ctx context.Context) error
	// Ping checks that the broker can carry publications now. Readiness
	// uses it; it must return within ctx.
	Ping(ctx context.Context) error
	// Close stops delivery. It is idempotent.
	Close() error
}

// Watcher is implemented by brokers whose subscriptions can break and come
// back, as a networked broker's do when its server restarts. Publications
// made in between are missed: lost runs when the subscription breaks, and
// restored once it carries publications again, so the hub can fill the
// gap from channel history. Publications delivered between the two calls
// came after the break; a caller that fills the gap holds them until
// restored has returned.
type Watcher interface {
	Watch(lost, restored func())
}
