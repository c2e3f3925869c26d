"use strict";
// Processor functions for socketio.yml. Each virtual user signs its own
// HS256 token (as the application's login would), and publishes one
// message through the HTTP API to the channel every user is on, then
// waits for it on its own socket and reports the delivery latency.
// Environment: FLEETWIRE_URL (http://127.0.0.1:<port>) and JWT_SECRET,
// the runtime's HS256 key.
const crypto = require("crypto");

function b64url(buf) {
  return Buffer.from(buf).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function sign(claims) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const mac = crypto.createHmac("sha256", process.env.JWT_SECRET).update(head + "." + body).digest();
  return head + "." + body + "." + b64url(mac);
}

function signToken(context, events, next) {
  const now = Math.floor(Date.now() / 1000);
  context.vars.userId = "artillery-" + crypto.randomBytes(6).toString("hex");
  context.vars.token = sign({ sub: context.vars.userId, iat: now, exp: now + 3600 });
  context.vars.serviceToken = sign({ sub: "artillery-publisher", roles: ["service"], iat: now, exp: now + 3600 });
  next();
}

// publishAndWait publishes a headline to load:all and waits, up to 5s, for
// this user's socket to receive it.
function publishAndWait(context, events, next) {
  const socket = context.sockets[""] || Object.values(context.sockets)[0];
  if (!socket) return next(new Error("no socket"));
  const sent = Date.now();
  let messageId = null;
  const seen = new Map();
  const timer = setTimeout(() => {
    socket.off("headline", onHeadline);
    events.emit("counter", "fleetwire.headline_missed", 1);
    next(new Error("headline not received within 5s"));
  }, 5000);
  function onHeadline(msg) {
    seen.set(msg && msg.id, true);
    if (messageId && seen.has(messageId)) finish();
  }
  function finish() {
    clearTimeout(timer);
    socket.off("headline", onHeadline);
    events.emit("counter", "fleetwire.headline_received", 1);
    events.emit("histogram", "fleetwire.delivery_ms", Date.now() - sent);
    next();
  }
  socket.on("headline", onHeadline);
  fetch(process.env.FLEETWIRE_URL + "/ws/publish", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + context.vars.serviceToken },
    body: JSON.stringify({ channel: "load:all", type: "headline", payload: { from: context.vars.userId } }),
  })
    .then(async (res) => {
      if (!res.ok) throw new Error("publish: HTTP " + res.status + " " + (await res.text()));
      messageId = (await res.json()).messageId;
      events.emit("counter", "fleetwire.published", 1);
      if (seen.has(messageId)) finish();
    })
    .catch((err) => {
      clearTimeout(timer);
      socket.off("headline", onHeadline);
      next(err);
    });
}

module.exports = { signToken, publishAndWait };
