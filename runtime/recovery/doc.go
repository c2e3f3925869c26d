// Package recovery owns what a Socket.IO session leaves behind for
// connection state recovery: whose session it was and the channels it was
// subscribed to, each with the id of the last message written to it, kept
// under the session's private id for a bounded time and handed out at most
// once. Memory is the in-process implementation.
package recovery
