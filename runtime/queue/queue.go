package queue

import (
	"context"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Queue holds messages for offline users.
type Queue interface {
	// Push appends msg to the user's queue. When the queue is full it
	// drops the oldest message of the lowest priority present and returns it.
	Push(ctx context.Context, userID string, msg *message.Message) (dropped *message.Message, err error)
	// Drain removes and returns the user's unexpired messages, oldest first.
	Drain(ctx context.Context, userID string) ([]*message.Message, error)
	// Peek returns up to limit unexpired messages without removing them,
	// and the queue's total depth.
	Peek(ctx context.Context, userID string, limit int) ([]*message.Message, int, error)
	// Remove deletes the messages with the given ids (message ids, not
	// storage positions) once a client has acknowledged them, counts them
	// as completed, and returns how many it found.
	Remove(ctx context.Context, userID string, ids []string) (int, error)
	// Clear removes the user's queue and returns how many messages it held.
	Clear(ctx context.Context, userID string) (int, error)
	// Stats returns counters in the replaced service's terms.
	Stats(ctx context.Context) (Stats, error)
	// Largest returns up to n users with the deepest queues, deepest first.
	Largest(ctx context.Context, n int) ([]UserDepth, error)
}

// UserDepth is one user's queue depth.
type UserDepth struct {
	UserID string `json:"userId"`
	Depth  int    `json:"depth"`
	// Oldest is when the queue's oldest message was queued, where the
	// store knows it cheaply; it is not part of the API's answer.
	Oldest time.Time `json:"-"`
}

// Stats are queue counters. Waiting is a gauge; the rest count since start.
type Stats struct {
	Waiting   int   `json:"waiting"`   // messages held now
	Users     int   `json:"users"`     // users with a non-empty queue
	Active    int   `json:"active"`    // messages being delivered right now
	Completed int64 `json:"completed"` // messages handed to a connection from a queue
	Failed    int64 `json:"failed"`    // messages dropped because a queue was full
	Expired   int64 `json:"expired"`   // messages dropped because their TTL passed
	// OldestAt is when the oldest message still waiting was queued; zero
	// when none waits.
	OldestAt time.Time `json:"oldestAt,omitzero"`
}
