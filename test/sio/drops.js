"use strict";
// drops.js runs many socket.io-client connections through a network that
// the Go test cuts at random (see test/e2e/drops_test.go). Each connection
// is one user: SIO_CLIENTS_FILE names a JSON file, an array of
// {user, token, url}. Every
// client connects with acks=1 and its built-in reconnection and connection
// state recovery, subscribes to SIO_CHANNEL (again, with `since`, after a
// reconnection that did not recover, or when its last subscribe was never
// acknowledged), acknowledges each user message, and
// counts every message id it receives, duplicates included.
//
// It POSTs "subscribed" to SIO_SIGNAL_URL once every client is on the
// channel. A client is done once it has seen a "drop_end" message both on
// the channel and to its user; then it reports one line
// {step: "report", user, seen: {id: count}, connects, recovered} and
// disconnects. The script ends a second after every client is done.
const { io } = require("socket.io-client");
const { out, plain, fail } = require("./lib");

const clients = JSON.parse(require("fs").readFileSync(process.env.SIO_CLIENTS_FILE, "utf8"));
const channel = process.env.SIO_CHANNEL;

function signal(step) {
  fetch(process.env.SIO_SIGNAL_URL, { method: "POST", body: step }).catch(fail);
}

let subscribed = 0;
let done = 0;

function run({ user, token, url }) {
  const seen = {};
  let lastChannelID = null;
  let connects = 0;
  let recovered = 0;
  let everSubscribed = false;
  // confirmed: the last subscribe was acknowledged. A connection that
  // recovered its session keeps the subscriptions the server had, which
  // lack one whose subscribe a cut lost on its way: then it subscribes
  // again.
  let confirmed = false;
  let endChannel = false;
  let endUser = false;
  let finished = false;
  const socket = io(url, {
    auth: { token },
    query: { acks: "1" },
    transports: ["websocket"],
    forceNew: true,
    timeout: 5000,
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
  });

  function subscribe() {
    const data = { channels: [channel] };
    // Having read nothing on the channel since the first subscribe, ask
    // for its whole history with an empty id.
    if (everSubscribed) data.since = { [channel]: lastChannelID || "" };
    confirmed = false;
    socket.timeout(5000).emitWithAck("subscribe", data).then((r) => {
      const res = r && r.results && r.results[0];
      if (!res || !res.ok) {
        out({ step: "subscribe_refused", user, r: plain(r) });
        return;
      }
      confirmed = true;
      if (!everSubscribed) {
        everSubscribed = true;
        if (++subscribed === clients.length) signal("subscribed");
      }
    }, () => {
      // The connection went while the subscribe was in flight: the next
      // connect subscribes again.
    });
  }

  socket.on("connect", () => {
    connects++;
    if (socket.recovered) recovered++;
    if (!socket.recovered || !confirmed) subscribe();
  });
  socket.onAny((event, msg) => {
    if (!msg || typeof msg.id !== "string") return;
    seen[msg.id] = (seen[msg.id] || 0) + 1;
    if (msg.channel === channel) {
      lastChannelID = msg.id;
      if (event === "drop_end") endChannel = true;
    } else if (!msg.channel) {
      socket.emit("ack_messages", { ids: [msg.id] });
      if (event === "drop_end") endUser = true;
    }
    if (endChannel && endUser && !finished) {
      finished = true;
      out({ step: "report", user, seen, connects, recovered });
      socket.disconnect();
      if (++done === clients.length) {
        out({ step: "done" });
        // Every client has disconnected; a second lets their close
        // packets go out, then the script ends whatever handle is left.
        setTimeout(() => process.exit(0), 1000);
      }
    }
  });
}

process.on("unhandledRejection", fail);
clients.forEach(run);
