"use strict";
// rt_channels.js drives the channel features over Socket.IO and reports
// what the client saw: the history event, client publishing and its rate
// limit, presence, join and leave, server-side subscriptions, token
// refresh and its refusals, and token_expiring. Environment: SIO_URL,
// SIO_API, SIO_TOKEN, SIO_SERVICE_TOKEN, SIO_USER, SIO_FRESH_TOKEN (a
// fresh token for the same user), SIO_OTHER_TOKEN (another user's),
// SIO_REVOKED_TOKEN (the same user's, revoked), SIO_SHORT_TOKEN (the same
// user's, expiring within seconds), SIO_OTHER_URL (where the other user's
// sockets connect; default SIO_URL), SIO_PUBLISH_LIMIT (how many publish
// events a minute the runtime allows), SIO_TRANSPORTS (optional).
const { io } = require("socket.io-client");
const { out, plain, emitAck, next, fail, options, connectRuntime } = require("./lib");

// connectAs opens a socket with token to url, and waits for "connected".
// listen, when given, runs on the socket before it connects, to catch
// events that come with the connection.
async function connectAs(url, token, listen) {
  const o = options();
  o.auth = { token };
  const socket = io(url, o);
  if (listen) listen(socket);
  const connected = next(socket, "connected");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) throw new Error("connect_error: " + err.message);
  await connected;
  return socket;
}

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

  const unsubscribed = next(socket, "unsubscribed");
  await api("/ws/unsubscribe/" + encodeURIComponent(process.env.SIO_USER), { channels: ["analysis:7"] });
  out({ step: "unsubscribed", data: plain((await unsubscribed)[0]) });

  // Two tabs of another user, on another node when SIO_OTHER_URL says
  // so: one join when the first subscribes, one leave when the last goes.
  const otherURL = process.env.SIO_OTHER_URL || process.env.SIO_URL;
  const events = [];
  socket.on("join", (d) => events.push({ event: "join", userId: d.userId, channel: d.channel }));
  socket.on("leave", (d) => events.push({ event: "leave", userId: d.userId, channel: d.channel }));
  const tab1 = await connectAs(otherURL, process.env.SIO_OTHER_TOKEN);
  const tab2 = await connectAs(otherURL, process.env.SIO_OTHER_TOKEN);
  const joined = next(socket, "join");
  await emitAck(tab1, "subscribe", { channels: ["doc:1"] });
  await joined;
  await emitAck(tab2, "subscribe", { channels: ["doc:1"] });
  out({ step: "presence-two-tabs", ack: plain(await emitAck(socket, "presence_stats", { channel: "doc:1" })) });
  tab1.disconnect();
  // Once the first tab's connection has left the channel, a leave sent
  // for it would already be here.
  for (let stats; ; ) {
    [stats] = await emitAck(socket, "presence_stats", { channel: "doc:1" });
    if (stats.connections === 2) break; // this socket and the second tab
    await new Promise((r) => setTimeout(r, 50));
  }
  await emitAck(socket, "ping");
  const left = next(socket, "leave");
  tab2.disconnect();
  await left;
  out({ step: "join-leave", events });

  out({ step: "refresh", ack: plain(await emitAck(socket, "refresh", { token: process.env.SIO_FRESH_TOKEN })) });
  out({ step: "refresh-refused", ack: plain(await emitAck(socket, "refresh", { token: "not.a.jwt" })) });
  out({ step: "refresh-other-user", ack: plain(await emitAck(socket, "refresh", { token: process.env.SIO_OTHER_TOKEN })) });
  out({ step: "refresh-revoked", ack: plain(await emitAck(socket, "refresh", { token: process.env.SIO_REVOKED_TOKEN })) });

  // Publishing past the publish event's limit (one publish was made above).
  const limit = Number(process.env.SIO_PUBLISH_LIMIT);
  let refused = null;
  for (let i = 1; i <= limit && !refused; i++) {
    const args = await emitAck(socket, "publish", { channel: "chat:1", type: "say", payload: { i } });
    if (args[0] && args[0].error) refused = { i, ack: plain(args) };
  }
  out({ step: "publish-rate-limited", refused });
  socket.disconnect();

  let expiring;
  const short = await connectAs(process.env.SIO_URL, process.env.SIO_SHORT_TOKEN, (s) => (expiring = next(s, "token_expiring")));
  const [warning] = await expiring;
  out({ step: "token_expiring", data: plain(warning) });
  short.disconnect();
  out({ step: "done" });
}

main().catch(fail);
