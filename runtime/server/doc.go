// Package server owns the assembly of one runtime node from its Config:
// it builds the verifier, broker, presence, queue, limiter, hub and HTTP
// API, serves them on a listener, and shuts them down in order.
package server
