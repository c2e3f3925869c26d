// Package transport owns the WebSocket connection: the upgrade, the single
// reader, and the outbound queue bounded in bytes. A writer goroutine runs
// only while the queue holds something, and it combines everything queued
// into as few socket writes as it can; an idle connection parks no writer.
package transport
