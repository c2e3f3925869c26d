"use strict";
// rt_limits.js drives one of the runtime's limits over Socket.IO and
// reports what the client saw. Environment: SIO_URL (the runtime's base
// URL), SIO_TOKEN, SIO_TRANSPORTS (optional), and SIO_SCENARIO:
//   rate      SIO_ALLOWED pings with a callback, then one more with a
//             callback (its ack is the error) and one without (the
//             "error" event answers it).
//   unknown   an unknown event with a callback and one without, then a
//             ping, to show the connection survived.
//   oversize  a small ping, then a "ping" whose data is SIO_BIG_BYTES
//             long: the runtime sends "close_reason" and ends the session.
const { out, plain, emitAck, next, fail, connectRuntime } = require("./lib");

async function rate(socket) {
  const allowed = Number(process.env.SIO_ALLOWED);
  for (let i = 0; i < allowed; i++) {
    out({ step: "allowed", i, ack: plain(await emitAck(socket, "ping")) });
  }
  out({ step: "limited-ack", ack: plain(await emitAck(socket, "ping")) });
  const errored = next(socket, "error");
  socket.emit("ping");
  out({ step: "limited-event", args: plain(await errored) });
}

async function unknown(socket) {
  out({ step: "unknown-ack", ack: plain(await emitAck(socket, "no_such_event", { x: 1 })) });
  const errored = next(socket, "error");
  socket.emit("no_such_event_either", { x: 2 });
  out({ step: "unknown-event", args: plain(await errored) });
  out({ step: "after", ack: plain(await emitAck(socket, "ping")) });
}

async function oversize(socket) {
  out({ step: "small", ack: plain(await emitAck(socket, "ping", "small")) });
  const order = [];
  const closeReason = new Promise((resolve) =>
    socket.once("close_reason", (data) => {
      order.push("close_reason");
      resolve(data);
    }),
  );
  const disconnected = new Promise((resolve) =>
    socket.once("disconnect", (reason) => {
      order.push("disconnect");
      resolve(reason);
    }),
  );
  socket.emit("ping", "x".repeat(Number(process.env.SIO_BIG_BYTES)));
  out({ step: "close_reason", data: plain(await closeReason) });
  out({ step: "disconnect", reason: await disconnected, order });
}

const scenarios = { rate, unknown, oversize };

async function main() {
  const run = scenarios[process.env.SIO_SCENARIO];
  if (!run) throw new Error("unknown SIO_SCENARIO " + process.env.SIO_SCENARIO);
  const socket = await connectRuntime();
  await run(socket);
  // The oversize scenario ends disconnected; the others close here.
  socket.disconnect();
  out({ step: "done" });
}

main().catch(fail);
