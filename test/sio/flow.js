"use strict";
// flow.js connects one socket.io-client (SIO_URL, SIO_TOKEN, transports
// from SIO_TRANSPORTS or the client's defaults) with its built-in
// reconnection on, and reports every event the runtime sends as a JSON line
// (lib.js). It ends once it has seen SIO_EXPECT_CONNECTS "connected"
// events and a message whose payload.mark is SIO_EXPECT_MARK.
const { io } = require("socket.io-client");
const { out, plain, fail } = require("./lib");

const wantConnects = Number(process.env.SIO_EXPECT_CONNECTS || 1);
const wantMark = process.env.SIO_EXPECT_MARK;
const opts = {
  auth: { token: process.env.SIO_TOKEN },
  reconnection: true,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  randomizationFactor: 0,
};
if (process.env.SIO_TRANSPORTS) opts.transports = process.env.SIO_TRANSPORTS.split(",");
// A new TCP connection for every polling request, as behind a load
// balancer that spreads requests.
if (process.env.SIO_NO_KEEPALIVE) opts.agent = false;
const socket = io(process.env.SIO_URL, opts);

let connects = 0;
let marked = false;
socket.onAny((event, ...args) => {
  out({ step: "event", event, args: plain(args), transport: socket.io.engine && socket.io.engine.transport.name });
  if (event === "connected") {
    connects++;
    // Tell the Go test, when it listens (SIO_SIGNAL_URL), that this
    // connection is up as far as the client is concerned.
    if (process.env.SIO_SIGNAL_URL) {
      fetch(process.env.SIO_SIGNAL_URL, { method: "POST", body: "connected-" + connects }).catch(fail);
    }
  }
  const mark = args[0] && args[0].payload && args[0].payload.mark;
  if (wantMark && mark === wantMark) marked = true;
  if (connects >= wantConnects && (!wantMark || marked)) {
    out({ step: "done", connects });
    socket.disconnect();
  }
});
socket.on("disconnect", (reason) => out({ step: "disconnect", reason }));
socket.on("connect_error", (err) => out({ step: "connect_error", message: err.message }));
process.on("unhandledRejection", fail);
