package broker

import (
	"context"
	"errors"
	"sync"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Memory is the in-process Broker: a publication reaches this node's
// handler synchronously when the node is subscribed to the topic. It cannot
// span processes; a fleet of more than one pod needs the Redis broker.
type Memory struct {
	mu      sync.RWMutex
	handler Handler
	topics  map[string]struct{}
	closed  bool
}

var _ Broker = (*Memory)(nil)

// ErrClosed is returned by a closed broker.
var ErrClosed = errors.New("broker: closed")

// NewMemory returns an in-process broker.
func NewMemory() *Memory {
	return &Memory{topics: make(map[string]struct{})}
}

// Start implements Broker.
func (m *Memory) Start(h Handler) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handler != nil {
		return errors.New("broker: already started")
	}
	m.handler = h
	return nil
}

// Publish implements Broker. The handler runs outside the broker's lock so
// that it may subscribe or unsubscribe.
func (m *Memory) Publish(_ context.Context, topic string, msg *message.Message) (int, error) {
	m.mu.RLock()
	_, ok := m.topics[topic]
	h, closed := m.handler, m.closed
	m.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	if !ok || h == nil {
		return 0, nil
	}
	h(topic, msg)
	return 1, nil
}

// Subscribe implements Broker.
func (m *Memory) Subscribe(_ context.Context, topics ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, t := range topics {
		m.topics[t] = struct{}{}
	}
	return nil
}

// Unsubscribe implements Broker.
func (m *Memory) Unsubscribe(_ context.Context, topics ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		delete(m.topics, t)
	}
	return nil
}

// Sync implements Broker; memory subscriptions take effect at once.
func (m *Memory) Sync(context.Context) error { return nil }

// Ping implements Broker.
func (m *Memory) Ping(context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Broker.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}
