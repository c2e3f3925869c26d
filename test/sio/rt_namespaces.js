"use strict";
// rt_namespaces.js joins the runtime's namespaces "/" and SIO_NSP over one
// connection, as socket.io-client does for io(url) and io(url + nsp) on
// one Manager, and tries SIO_BAD_NSP, which the runtime does not serve.
// It reports:
//   {step: "connected", nsp, socketId, engine}   for each namespace joined
//   {step: "refused", nsp, message}             for SIO_BAD_NSP
//   {step: "ack", nsp, resp}                     a subscribe with a callback
//   {step: "message", nsp, event, mark}          each message received
// Once both namespaces have joined, it POSTs "joined" to SIO_SIGNAL_URL,
// and it ends when each namespace has received a message whose
// payload.mark is SIO_EXPECT_MARK.
const { Manager } = require("socket.io-client");
const { out, next, emitAck, fail } = require("./lib");

async function main() {
  const manager = new Manager(process.env.SIO_URL, {
    reconnection: false,
    timeout: 5000,
    transports: (process.env.SIO_TRANSPORTS || "polling,websocket").split(","),
  });
  const auth = { token: process.env.SIO_TOKEN };
  const nsps = ["/", process.env.SIO_NSP];
  const sockets = nsps.map((nsp) => manager.socket(nsp, { auth }));
  const marked = new Set();
  let finish;
  const allMarked = new Promise((resolve) => (finish = resolve));
  sockets.forEach((socket, i) => {
    socket.onAny((event, ...args) => {
      const mark = args[0] && args[0].payload && args[0].payload.mark;
      if (mark === undefined) return;
      out({ step: "message", nsp: nsps[i], event, mark });
      if (mark === process.env.SIO_EXPECT_MARK) marked.add(nsps[i]);
      if (marked.size === nsps.length) finish();
    });
  });
  const connected = await Promise.all(sockets.map((s) => next(s, "connected")));
  connected.forEach(([data], i) => {
    out({ step: "connected", nsp: nsps[i], socketId: data.socketId, userId: data.userId, engine: manager.engine.id });
  });

  const bad = manager.socket(process.env.SIO_BAD_NSP, { auth });
  const [err] = await next(bad, "connect_error");
  out({ step: "refused", nsp: process.env.SIO_BAD_NSP, message: err.message });

  const [resp] = await emitAck(sockets[1], "subscribe", { channels: ["document:ns"] });
  out({ step: "ack", nsp: nsps[1], resp });

  await fetch(process.env.SIO_SIGNAL_URL, { method: "POST", body: "joined" });
  await allMarked;
  out({ step: "done", transport: manager.engine.transport.name });
  sockets.forEach((s) => s.disconnect());
}

main().catch(fail);
