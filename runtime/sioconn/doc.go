// Package sioconn joins Socket.IO clients to the hub. It owns the codec
// that turns the hub's frames into Socket.IO packets of the main namespace
// (events, acks and the "error" event), and Conn, the hub.Conn of one
// Socket.IO socket: sends go to its Engine.IO session's bounded queue,
// whichever transport (long-polling or WebSocket) carries it, and the
// runtime's close codes become a "close_reason" event followed by the
// Socket.IO disconnect that tells the client whether to reconnect.
package sioconn
