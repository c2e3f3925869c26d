// Package schedule owns the runtime's one timer mechanism: a Scheduler that
// runs many per-connection deadlines (heartbeats, token expiry) from a
// single goroutine and a single timer, instead of a goroutine or timer per
// connection.
package schedule
