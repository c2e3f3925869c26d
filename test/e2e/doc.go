// Package e2e holds the runtime's end-to-end tests: a real runtime on a
// loopback listener (in-process, or as a separate process for signal
// tests) driven by real WebSocket and HTTP clients.
package e2e
