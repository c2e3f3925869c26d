"use strict";
// recover.js connects socket.io-client (SIO_URL, SIO_TOKEN, transports from
// SIO_TRANSPORTS) with its built-in reconnection, subscribes to SIO_CHANNEL
// once, and reports every event and each connect with socket.recovered. It
// tells the Go test where it is by POSTing a step name to SIO_SIGNAL_URL:
// "subscribed", then "read" once it has every mark in SIO_BEFORE. It ends
// once it has connected twice and received every mark in SIO_EXPECT
// (comma-separated payload.mark values), or at its deadline.
const { io } = require("socket.io-client");
const { out, plain, fail } = require("./lib");

const want = new Set(process.env.SIO_EXPECT.split(","));
const before = new Set(process.env.SIO_BEFORE.split(","));

function signal(step) {
  fetch(process.env.SIO_SIGNAL_URL, { method: "POST", body: step }).catch(fail);
}
const opts = {
  auth: { token: process.env.SIO_TOKEN },
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  randomizationFactor: 0,
};
if (process.env.SIO_TRANSPORTS) opts.transports = process.env.SIO_TRANSPORTS.split(",");
const socket = io(process.env.SIO_URL, opts);

let connects = 0;
socket.on("connect", () => {
  connects++;
  out({ step: "connect", n: connects, recovered: socket.recovered, transport: socket.io.engine.transport.name });
  if (connects === 1) {
    socket.timeout(5000).emitWithAck("subscribe", { channels: [process.env.SIO_CHANNEL] })
      .then((r) => {
        out({ step: "subscribed", r: plain(r) });
        signal("subscribed");
      }, fail);
  }
  check();
});
socket.onAny((event, ...args) => {
  const mark = args[0] && args[0].payload && args[0].payload.mark;
  out({ step: "event", event, mark: mark || null, id: (args[0] && args[0].id) || null, connects });
  if (mark) {
    want.delete(mark);
    if (before.delete(mark) && before.size === 0) signal("read");
  }
  check();
});
socket.on("disconnect", (reason) => out({ step: "disconnect", reason }));

function check() {
  if (connects >= 2 && want.size === 0) {
    out({ step: "done" });
    socket.disconnect();
  }
}
process.on("unhandledRejection", fail);
