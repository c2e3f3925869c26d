// Package queue owns offline delivery: the Queue interface that holds
// messages for users who are not connected, and Memory, a bounded
// in-process implementation. Messages leave a queue in the order they
// entered it; when a queue is full the oldest lowest-priority message is
// dropped and counted, never silently.
package queue
