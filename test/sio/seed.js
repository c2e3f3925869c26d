"use strict";
// seed.js runs the replaced service's README example as it is written,
// apart from the host and the token, then makes the backend send what the
// example listens for through the HTTP API. Steps are JSON lines (lib.js).
//
// Env: SIO_URL (ws://127.0.0.1:PORT), SIO_TOKEN (alice's token), SIO_API
// (http://127.0.0.1:PORT), SIO_SERVICE_TOKEN, SIO_USER, SIO_TRANSPORTS
// (optional: overrides the example's transports, "default" for the
// client's own defaults).
const { out, fail } = require("./lib");
const io = require("socket.io-client").io;

const token = process.env.SIO_TOKEN;
const transports = process.env.SIO_TRANSPORTS || "websocket";
const seen = { connected: false, notification: false, progress: false };

// --- the example, verbatim apart from host, token and the lines that report ---
const opts = {
  auth: {
    token: token
  },
  transports: ['websocket']
};
if (transports === "default") delete opts.transports;
else opts.transports = transports.split(",");
opts.reconnection = false;
const socket = io(process.env.SIO_URL, opts);

socket.on('connected', (data) => {
  out({ step: "connected", data });
  seen.connected = true;
  afterConnected().catch(fail);
});

socket.on('notification', (notification) => {
  out({ step: "notification", notification });
  seen.notification = true;
  maybeDone();
});

// Subscribe to analysis updates
socket.emit('subscribe', {
  channels: ['analysis:123', 'document:456']
});

// Listen for analysis progress
socket.on('analysis_progress', (progress) => {
  out({ step: "analysis_progress", text: `Analysis ${progress.payload.analysisId}: ${progress.payload.percentage}%`, progress });
  seen.progress = true;
  maybeDone();
});
// --- end of the example ---

socket.on("connect_error", (err) => fail("connect_error: " + err.message + " " + JSON.stringify(err.data)));
socket.on("error", (e) => out({ step: "error_event", e }));

async function api(path, body) {
  const res = await fetch(process.env.SIO_API + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + process.env.SIO_SERVICE_TOKEN },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  out({ step: "api", path, status: res.status, json });
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
}

async function afterConnected() {
  // Events are handled in order, so the ack of this ping means the
  // example's subscribe has been handled and is live.
  await socket.timeout(5000).emitWithAck("ping", {});
  out({ step: "subscribed", transport: socket.io.engine.transport.name });
  await api("/ws/publish", { channel: "analysis:123", type: "analysis_progress", payload: { analysisId: "123", percentage: 42 } });
  await api("/ws/send/" + process.env.SIO_USER, { type: "notification", payload: { title: "Analysis Complete" }, priority: "high" });
}

function maybeDone() {
  if (seen.connected && seen.notification && seen.progress) {
    out({ step: "done", transport: socket.io.engine.transport.name });
    socket.disconnect();
  }
}
