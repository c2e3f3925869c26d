// Package protocol owns the wire format between the runtime and its clients:
// the frame shape, the Codec interface that turns frames into bytes and back,
// the native JSON codec, and the stable error and close codes that clients
// can rely on. Everything in docs/protocol.md is defined here.
package protocol
