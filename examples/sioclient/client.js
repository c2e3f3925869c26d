"use strict";
// The README walkthrough's Socket.IO client: socket.io-client, used as the
// replaced service's README uses it, printing every event it receives.
//
//   (cd test/sio && npm ci)   # installs socket.io-client from the lockfile
//   NODE_PATH=test/sio/node_modules node examples/sioclient/client.js TOKEN [channel ...]
//
// SIO_URL overrides the runtime's address (default http://localhost:8080).
const { io } = require("socket.io-client");

const [token, ...channels] = process.argv.slice(2);
if (!token) {
  console.error("usage: node examples/sioclient/client.js TOKEN [channel ...]");
  process.exit(2);
}
const socket = io(process.env.SIO_URL || "http://localhost:8080", { auth: { token } });

socket.on("connect", () => console.log(`connected over ${socket.io.engine.transport.name}, recovered: ${socket.recovered}`));
socket.io.engine.on("upgrade", (t) => console.log(`upgraded to ${t.name}`));
socket.onAny((event, data) => console.log(JSON.stringify({ event, data })));
socket.on("connect_error", (err) => console.error("connect_error:", err.message, JSON.stringify(err.data)));
socket.on("disconnect", (reason) => console.log("disconnected:", reason));

if (channels.length > 0) {
  socket.emit("subscribe", { channels }, (reply) => console.log(JSON.stringify({ ack: "subscribe", reply })));
}
process.on("SIGINT", () => {
  socket.disconnect();
  process.exit(0);
});
