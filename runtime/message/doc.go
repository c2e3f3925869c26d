// Package message owns the application message: the envelope that the HTTP
// API accepts, the broker carries, the offline queue stores and clients
// receive as {id, type, payload, priority, timestamp, channel?}. It also owns
// the rules for message types and priorities, and message id generation.
package message
