// Package httpapi owns the runtime's HTTP surface: the WebSocket upgrade at
// /ws (origin, capacity and token checks before the upgrade), the /ws/*
// send, publish and status API, admin endpoints, request ids, request logs
// and the one JSON error shape every endpoint uses.
package httpapi
