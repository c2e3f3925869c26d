"use strict";
// rt_compress.js connects two sockets over WebSocket, one offering
// permessage-deflate (threshold 0, so it compresses what it sends too)
// and one not, subscribes both to news:1 and chat:1, and reports the
// extensions each negotiated and the publications each received: one
// published through the HTTP API, and one the compressing client
// publishes itself. Environment: SIO_URL, SIO_API, SIO_TOKEN,
// SIO_SERVICE_TOKEN.
const { io } = require("socket.io-client");
const { out, plain, emitAck, next, fail, options } = require("./lib");

async function open(name, perMessageDeflate) {
  const o = options();
  o.transports = ["websocket"];
  o.perMessageDeflate = perMessageDeflate;
  o.auth = { token: process.env.SIO_TOKEN };
  const socket = io(process.env.SIO_URL, o);
  const connected = next(socket, "connected");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) throw new Error(name + ": connect_error: " + err.message);
  await connected;
  await emitAck(socket, "subscribe", { channels: ["news:1", "chat:1"] });
  out({ step: "open", name, extensions: socket.io.engine.transport.ws.extensions });
  return socket;
}

async function main() {
  const zipped = await open("zipped", { threshold: 0 });
  const plainSocket = await open("plain", false);
  const sockets = { zipped, plain: plainSocket };
  const text = "all work and no play makes a dull message ".repeat(100);

  const headlines = Object.entries(sockets).map(([name, s]) => next(s, "headline").then((args) => ({ name, data: args[0] })));
  const res = await fetch(process.env.SIO_API + "/ws/publish", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + process.env.SIO_SERVICE_TOKEN },
    body: JSON.stringify({ channel: "news:1", type: "headline", payload: { text } }),
  });
  if (!res.ok) throw new Error("publish: HTTP " + res.status + " " + (await res.text()));
  for (const got of await Promise.all(headlines)) out({ step: "headline", name: got.name, data: plain(got.data) });

  const says = Object.entries(sockets).map(([name, s]) => next(s, "say").then((args) => ({ name, data: args[0] })));
  out({ step: "publish", ack: plain(await emitAck(zipped, "publish", { channel: "chat:1", type: "say", payload: { text } })) });
  for (const got of await Promise.all(says)) out({ step: "say", name: got.name, data: plain(got.data) });

  zipped.disconnect();
  plainSocket.disconnect();
  out({ step: "done" });
}

main().catch(fail);
