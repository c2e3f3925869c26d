// Package socketio owns the server side of the Socket.IO protocol, revision 5
// (the protocol of socket.io 3.x and 4.x), on top of the Engine.IO sessions
// served by runtime/engineio: the packet codec with its binary attachments,
// namespaces (multiplexed over one Engine.IO session), the CONNECT handshake
// with middleware, events, acknowledgements and disconnection. It knows
// nothing of the rest of the runtime: callers attach their own handlers.
//
// Handlers for one Engine.IO session run one at a time, in the order the
// packets arrived, on the goroutine that reads that session. They may emit
// freely (emits never block on the network) but should not block for long,
// because the session reads nothing else meanwhile.
package socketio
