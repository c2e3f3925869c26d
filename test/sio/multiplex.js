"use strict";
// multiplex.js connects to "/" and "/custom" through one Manager, so both
// namespaces share one Engine.IO session, and checks each gets its own echo.
const { Manager } = require("socket.io-client");
const { out, plain, emitAck, next, fail, options } = require("./lib");

async function main() {
  const manager = new Manager(process.env.SIO_URL, options());
  const root = manager.socket("/");
  const custom = manager.socket("/custom");
  root.connect();
  custom.connect();
  await Promise.all([next(root, "connect"), next(custom, "connect")]);
  out({ step: "connect", root: root.id, custom: custom.id, engine: manager.engine.id });
  const [a, b] = await Promise.all([emitAck(root, "whoami"), emitAck(custom, "whoami")]);
  out({ step: "whoami", root: plain(a), custom: plain(b) });
  // Leaving one namespace must not end the other.
  custom.disconnect();
  out({ step: "after-leave", root: plain(await emitAck(root, "echo", "still-here")) });
  // Leaving the last namespace closes the session (client side).
  root.disconnect();
}

main().catch(fail);
