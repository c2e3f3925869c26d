// Package presence owns who is online: the Presence interface that counts
// each user's connections across the fleet, and Memory, the in-process
// implementation for a single node.
package presence
