// Package engineio is a server for the Engine.IO protocol, revision 4: the
// transport layer under Socket.IO. It owns the Engine.IO session (handshake,
// session ids, heartbeat, close), the HTTP long-polling and WebSocket
// transports, the upgrade from polling to WebSocket, and each session's
// bounded outbound queue with its on-demand writer. It knows nothing about
// Socket.IO packets, namespaces, origins or users: callers hand it opaque
// message payloads, mount Server on an HTTP mux, and decide who may connect
// through Config.Authorize.
package engineio
