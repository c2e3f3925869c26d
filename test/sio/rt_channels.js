"use strict";
// rt_channels.js drives the channel features over Socket.IO and reports
// what the client saw: the history event, client publishing, presence,
// a server-side subscription and a token refresh. Environment: SIO_URL,
// SIO_API, SIO_TOKEN, SIO_SERVICE_TOKEN, SIO_USER, SIO_FRESH_TOKEN (a
// fresh token for the same user), SIO_TRANSPORTS (optional).
const { out, plain, emitAck, next, fail, connectRuntime } = require("./lib");

async function api(path, body) {
  const res = await fetch(process.env.SIO_API + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + process.env.SIO_SERVICE_TOKEN },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status + " " + (await res.text()));
  return res.json();
}

async function main() {
  const socket = await connectRuntime();
  const published = await api("/ws/publish", { channel: "news:1", type: "headline", payload: 1 });
  out({ step: "history", ack: plain(await emitAck(socket, "history", { channel: "news:1" })), messageId: published.messageId });

  await emitAck(socket, "subscribe", { channels: ["chat:1"] });
  const own = next(socket, "say");
  out({ step: "publish", ack: plain(await emitAck(socket, "publish", { channel: "chat:1", type: "say", payload: { text: "hi" } })) });
  out({ step: "own-copy", data: plain((await own)[0]) });
  out({ step: "publish-refused", ack: plain(await emitAck(socket, "publish", { channel: "news:1", type: "say" })) });

  await emitAck(socket, "subscribe", { channels: ["doc:1"] });
  out({ step: "presence", ack: plain(await emitAck(socket, "presence", { channel: "doc:1" })) });
  out({ step: "presence_stats", ack: plain(await emitAck(socket, "presence_stats", { channel: "doc:1" })) });

  const subscribed = next(socket, "subscribed");
  await api("/ws/subscribe/" + encodeURIComponent(process.env.SIO_USER), { channels: ["analysis:7"] });
  out({ step: "subscribed", data: plain((await subscribed)[0]) });

  out({ step: "refresh", ack: plain(await emitAck(socket, "refresh", { token: process.env.SIO_FRESH_TOKEN })) });
  out({ step: "refresh-refused", ack: plain(await emitAck(socket, "refresh", { token: "not.a.jwt" })) });

  socket.disconnect();
  out({ step: "done" });
}

main().catch(fail);
