"use strict";
// rt_auth.js tries one Socket.IO connection per case against the runtime
// and reports how each ended. SIO_URL is the runtime's base URL; SIO_CASES
// is a JSON array of {name, transports, auth, query, headers}, where auth,
// query and headers become the client's auth, query and extraHeaders
// options when present. Each case reports one line:
//   {step: "case", name, outcome: "connected", userId, transport}
//   {step: "case", name, outcome: "connect_error", message, data}
// A connected case waits for the runtime's "connected" event, then
// disconnects; a refused one is already torn down by the client.
const { io } = require("socket.io-client");
const { out, next, fail } = require("./lib");

async function runCase(c) {
  const o = { reconnection: false, forceNew: true, timeout: 5000, transports: c.transports || ["polling", "websocket"] };
  if (c.auth !== undefined) o.auth = c.auth;
  if (c.query !== undefined) o.query = c.query;
  if (c.headers !== undefined) o.extraHeaders = c.headers;
  const socket = io(process.env.SIO_URL, o);
  // Registered before any packet can arrive: the runtime sends "connected"
  // right after the CONNECT reply.
  const connected = next(socket, "connected");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) {
    out({ step: "case", name: c.name, outcome: "connect_error", message: err.message, data: err.data === undefined ? null : err.data });
    socket.close(); // a no-op when the client already gave up on the session
    return;
  }
  const [data] = await connected;
  out({ step: "case", name: c.name, outcome: "connected", userId: data && data.userId, transport: socket.io.engine.transport.name });
  socket.disconnect();
}

async function main() {
  for (const c of JSON.parse(process.env.SIO_CASES)) {
    await runCase(c);
  }
  out({ step: "done" });
}

main().catch(fail);
