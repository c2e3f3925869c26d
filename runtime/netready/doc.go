// Package netready waits until a socket has something to read, without
// reading it. A connection's reader can then park in that wait, a few
// frames above the scheduler, instead of deep inside a protocol library's
// read path, so that the goroutine's stack stays small for as long as the
// connection is idle. The WebSocket transport and the Engine.IO server
// both park their readers this way, and both lend their readers a buffer
// only while they read (Lender).
package netready
