"use strict";
// acks.js connects with acks=1 (SIO_URL, SIO_TOKEN) and expects
// SIO_EXPECT messages, each asking for an acknowledgement. It acknowledges
// the first SIO_ACK of them, makes sure the server handled those (events
// are handled in order, so a ping's ack comes after them), and leaves.
const { io } = require("socket.io-client");
const { out, fail } = require("./lib");

const expect = Number(process.env.SIO_EXPECT);
const ackCount = Number(process.env.SIO_ACK);
const socket = io(process.env.SIO_URL, {
  auth: { token: process.env.SIO_TOKEN },
  query: { acks: "1" },
  reconnection: false,
  transports: (process.env.SIO_TRANSPORTS || "websocket").split(","),
});
let seen = 0;
socket.on("notification", (msg, ack) => {
  seen++;
  out({ step: "message", id: msg.id, queued: msg.queued === true, asksAck: typeof ack === "function" });
  if (typeof ack === "function" && seen <= ackCount) ack();
  if (seen === expect) finish().catch(fail);
});
socket.on("connect_error", (err) => fail("connect_error: " + err.message));

async function finish() {
  await socket.timeout(5000).emitWithAck("ping", {});
  out({ step: "done" });
  socket.disconnect();
}
