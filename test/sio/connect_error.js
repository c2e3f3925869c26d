"use strict";
// connect_error.js connects to SIO_URL + SIO_NAMESPACE (with SIO_AUTH as
// the auth payload) and reports the connect_error it must get. Connecting
// successfully is a failure: it reports "connected", disconnects cleanly
// and exits 1.
const { io } = require("socket.io-client");
const { out, next, fail, options } = require("./lib");

async function main() {
  const socket = io(process.env.SIO_URL + process.env.SIO_NAMESPACE, options());
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (!err) {
    out({ step: "connected", namespace: process.env.SIO_NAMESPACE, id: socket.id });
    process.exitCode = 1;
    socket.disconnect(); // the last namespace: the client closes the session
    return;
  }
  out({ step: "connect_error", message: err.message, data: err.data === undefined ? null : err.data });
  // After a refusal the Engine.IO session stays open; exiting drops it.
  process.exit(0);
}

main().catch(fail);
