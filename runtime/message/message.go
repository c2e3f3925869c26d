package message

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"
)

// Priority orders delivery from the offline queue and decides what is
// dropped first when a queue is full.
type Priority string

// Priorities accepted by the HTTP API. An empty priority means normal.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// ParsePriority validates p; the empty string means PriorityNormal.
func ParsePriority(p string) (Priority, error) {
	switch Priority(p) {
	case "":
		return PriorityNormal, nil
	case PriorityLow, PriorityNormal, PriorityHigh:
		return Priority(p), nil
	}
	return "", fmt.Errorf("priority must be one of low, normal, high; got %q", p)
}

// Message is one application message. It is immutable once published: the
// hub encodes it once and shares the bytes between all receivers.
type Message struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	Priority  Priority        `json:"priority"`
	Timestamp string          `json:"timestamp"`
	Channel   string          `json:"channel,omitempty"`
	// Publisher is the user whose connection published the message with
	// the publish event; empty for what the HTTP API sent.
	Publisher string `json:"publisher,omitempty"`
	// Queued marks a message delivered from the offline queue, which a
	// client that connected with acks=1 must acknowledge.
	Queued bool `json:"queued,omitempty"`
	// Accepted is when this process created the message, for the
	// delivery-latency metric. It is not sent or stored.
	Accepted time.Time `json:"-"`
	// Origin names the node whose API accepted the message, when that
	// node delivers it to its own connections without waiting for the
	// broker; the broker carries it, and that node skips its own copy.
	// It is not sent to clients or stored.
	Origin string `json:"-"`
	// Republished marks a publication its node published again after the
	// store lost it (hub/republish.go); the broker carries it, and a node
	// that had already delivered it skips it. It is not sent to clients or
	// stored.
	Republished bool `json:"-"`
}

// TimestampFormat is ISO 8601 in UTC with milliseconds, the format the
// replaced service used (JavaScript's Date.prototype.toISOString).
const TimestampFormat = "2006-01-02T15:04:05.000Z07:00"

// New returns a message with a fresh id and the current time.
func New(typ string, payload json.RawMessage, prio Priority) *Message {
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	now := time.Now()
	return &Message{
		Accepted:  now,
		ID:        NewID(),
		Type:      typ,
		Payload:   payload,
		Priority:  prio,
		Timestamp: now.UTC().Format(TimestampFormat),
	}
}

// typePattern is the documented pattern for message types: a letter, then
// up to 63 letters, digits, '_', '-', '.' or ':'.
var typePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$`)

// reservedTypes are event names the protocol itself uses; a message with one
// of these types would be indistinguishable from a protocol event.
var reservedTypes = map[string]bool{
	"ack": true, "error": true, "connected": true, "pong": true, "ping": true,
	"subscribe": true, "unsubscribe": true, "reconnect": true,
	"connect": true, "disconnect": true, "connect_error": true,
	"subscribed": true, "unsubscribed": true, "token_expiring": true,
	"join": true, "leave": true,
}

// ValidateType checks a message type against the pattern, the reserved
// names and, when allowed is non-empty, the allow-list.
func ValidateType(t string, allowed map[string]bool) error {
	if !typePattern.MatchString(t) {
		return fmt.Errorf("type %q must match %s", t, typePattern)
	}
	if reservedTypes[t] {
		return fmt.Errorf("type %q is reserved by the protocol", t)
	}
	if len(allowed) > 0 && !allowed[t] {
		return fmt.Errorf("type %q is not in the configured allow-list", t)
	}
	return nil
}

var (
	idPrefix  = randomPrefix()
	idCounter atomic.Uint64
)

func randomPrefix() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// NewID returns a unique message id: a millisecond timestamp, a per-process
// random prefix and a counter. Ids from one process sort by creation time.
func NewID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixMilli()))
	return fmt.Sprintf("%s-%s-%d", hex.EncodeToString(b[2:]), idPrefix, idCounter.Add(1))
}
