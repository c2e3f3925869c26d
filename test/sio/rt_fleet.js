"use strict";
// rt_fleet.js opens one Socket.IO socket per runtime of a fleet, subscribes
// each to a channel, tells the Go test it is ready, and reports the
// messages each socket was told to expect. Environment:
//   SIO_URLS       comma-separated base URLs, one socket each
//   SIO_TOKENS     comma-separated tokens, in the same order
//   SIO_CHANNEL    the channel every socket subscribes to
//   SIO_EXPECT     JSON array, per socket, of the message types it waits for
//   SIO_READY_URL  POSTed to once every socket is subscribed
//   SIO_TRANSPORTS as in lib.js
// A socket that disconnects before the end fails the script at once, so a
// runtime that goes away does not leave it waiting for its deadline.
const { io } = require("socket.io-client");
const { out, plain, emitAck, next, fail, options } = require("./lib");

async function open(url, token, index, expected) {
  const o = options();
  o.auth = { token };
  const socket = io(url, o);
  let closing = false;
  socket.on("disconnect", (reason) => {
    if (!closing) fail(new Error(`socket ${index} disconnected early: ${reason}`));
  });
  // Every expected message type gets its listener before anything can
  // arrive; each resolves with the first such message.
  const received = expected.map((ev) => next(socket, ev).then(([data]) => ({ ev, data })));
  const connected = next(socket, "connected");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) throw new Error(`socket ${index}: connect_error ${err.message} ${JSON.stringify(err.data)}`);
  const [data] = await connected;
  out({ step: "connected", index, userId: data.userId, transport: socket.io.engine.transport.name });
  return {
    socket,
    received,
    close() {
      closing = true;
      socket.disconnect();
    },
  };
}

async function main() {
  const urls = process.env.SIO_URLS.split(",");
  const tokens = process.env.SIO_TOKENS.split(",");
  const expect = JSON.parse(process.env.SIO_EXPECT);
  const channel = process.env.SIO_CHANNEL;
  const sockets = await Promise.all(urls.map((u, i) => open(u, tokens[i], i, expect[i])));
  for (const [i, s] of sockets.entries()) {
    const [reply] = await emitAck(s.socket, "subscribe", { channels: [channel] });
    out({ step: "subscribed", index: i, reply: plain(reply) });
  }
  const res = await fetch(process.env.SIO_READY_URL, { method: "POST" });
  if (!res.ok) throw new Error("ready: HTTP " + res.status);
  for (const [i, s] of sockets.entries()) {
    for (const { ev, data } of await Promise.all(s.received)) {
      out({ step: "received", index: i, event: ev, data: plain(data) });
    }
  }
  for (const s of sockets) s.close();
  out({ step: "done" });
}

main().catch(fail);
