// Package rpcproxy owns custom client events: it forwards an event the
// runtime does not handle itself to the application's backend as an HTTP
// POST carrying the caller's identity, and turns the backend's answer, a
// failure or a timeout into the client's ack or a stable error.
package rpcproxy
