// The Fleetwire console. It uses only the runtime's own HTTP API and
// WebSocket protocol (docs/console.md); the admin token stays in this
// tab's sessionStorage and goes out in the Authorization header, or as a
// WebSocket subprotocol, never in a URL.
"use strict";

const TOKEN_KEY = "fleetwire.console.token";
const THEME_KEY = "fleetwire.console.theme";
const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);
let stopView = () => {};

// ---- DOM helpers -------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function table(headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.num ? "num" : null }, x.label || x)))),
    h("tbody", {}, rows));
}

function fmtRate(n) { return n >= 100 ? Math.round(n).toString() : (Math.round(n * 10) / 10).toString(); }
function fmtTime(s) { return s ? new Date(s).toLocaleString() : ""; }
function fmtAgo(s) {
  const secs = Math.max(0, Math.round((Date.now() - new Date(s).getTime()) / 1000));
  if (secs < 60) return secs + "s ago";
  if (secs < 3600) return Math.round(secs / 60) + "m ago";
  return Math.round(secs / 3600) + "h ago";
}

// ---- messages and errors ----------------------------------------------

// Readable texts for the API's stable error codes (docs/protocol.md).
const ERROR_TEXT = {
  token_missing: "No token was sent. Sign in with an admin token.",
  token_malformed: "That is not a JSON Web Token. Paste the whole token: three parts separated by dots.",
  token_signature_invalid: "The token's signature does not verify: it was signed with another key than this runtime's.",
  token_expired: "The token has expired. Make a fresh one and sign in again.",
  token_not_yet_valid: "The token is not valid yet (its nbf or iat is in the future). Check the clocks.",
  token_revoked: "This token has been revoked.",
  token_algorithm_not_allowed: "The token is signed with an algorithm this runtime does not accept.",
  token_claims_invalid: "The token's issuer, audience or subject is not accepted here.",
  auth_unavailable: "The revocation list (Redis) could not be read, so tokens with a jti cannot be checked; retry once Redis is back.",
  forbidden: "This token lacks the admin role. The console needs a token with \"roles\": [\"admin\"].",
  rate_limited: "Too many requests; wait a moment and retry.",
  store_unavailable: "Redis did not answer; retry in a moment.",
  not_found: "Not found.",
  validation_failed: "The request was refused.",
  invalid_json: "The request body is not valid JSON.",
  presence_disabled: "This channel's namespace records no presence.",
  history_disabled: "This channel's namespace keeps no history.",
  shutting_down: "This node is draining; reload to reach another one.",
};

class APIError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  readable() {
    const base = ERROR_TEXT[this.code];
    const detail = this.message && this.message !== base ? this.message : "";
    if (!base) return detail || "The runtime answered " + this.status + ".";
    return detail ? base + " (" + detail + ")" : base;
  }
}

function showError(err) {
  const el = $("error");
  if (!err) { el.hidden = true; el.textContent = ""; return; }
  el.textContent = err instanceof APIError ? err.readable() : String(err.message || err);
  el.hidden = false;
}

function showNotice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
  if (text) setTimeout(() => { if (el.textContent === text) el.hidden = true; }, 5000);
}

// ---- API ----------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, path, body, tok) {
  const headers = { Authorization: "Bearer " + (tok || token()) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (e) {
    throw new Error("The runtime did not answer: " + e.message);
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new APIError(resp.status, e.code || "http_" + resp.status, e.message || "", e.field);
  }
  return data;
}

// ---- theme --------------------------------------------------------------

function applyTheme(theme) {
  const dark = theme === "dark" || (!theme && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", dark);
  $("theme").textContent = dark ? "Light mode" : "Dark mode";
}

// ---- routing ------------------------------------------------------------

function route() {
  stopView();
  stopView = () => {};
  showError(null);
  const view = $("view");
  const signedIn = token() !== "";
  $("nav").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  view.replaceChildren();
  if (!signedIn) { view.append(signInView()); return; }
  const hash = location.hash.replace(/^#\/?/, "");
  const [kind, ...rest] = hash.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  if (kind === "users" && arg) stopView = userView(view, arg);
  else if (kind === "channels" && arg) stopView = channelView(view, arg);
  else stopView = overviewView(view);
}

function go(path) { location.hash = "#/" + path; }

// ---- sign in ------------------------------------------------------------

function signInView() {
  const tpl = $("sign-in-template");
  const section = tpl.content.firstElementChild.cloneNode(true);
  section.querySelector("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tok = section.querySelector("textarea").value.trim().replace(/^Bearer\s+/i, "");
    if (!tok) return;
    try {
      await api("GET", "/admin/fleet", undefined, tok);
    } catch (e) {
      showError(e);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, tok);
    route();
  });
  return section;
}

// ---- overview -----------------------------------------------------------

function overviewView(view) {
  const root = h("div", { id: "overview" }, h("h1", {}, "Fleet overview"), h("p", { class: "muted" }, "Loading…"));
  view.append(root);
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try {
      const f = await api("GET", "/admin/fleet");
      if (stopped) return;
      showError(null);
      root.replaceChildren(...renderOverview(f).filter(Boolean));
    } catch (e) {
      if (!stopped) handleFailure(e);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function handleFailure(e) {
  if (e instanceof APIError && (e.status === 401 || e.status === 403)) {
    sessionStorage.removeItem(TOKEN_KEY);
    route();
  }
  showError(e);
}

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value", id }, value));
}

function renderOverview(f) {
  const t = f.totals;
  const nodes = f.nodes.map((n) => h("tr", { "data-node": n.name },
    h("td", { class: "mono" }, n.name),
    h("td", {}, n.draining ? h("span", { class: "pill warn" }, "draining") :
      n.ready ? h("span", { class: "pill ok" }, "ready") : h("span", { class: "pill bad" }, "not ready")),
    h("td", { class: "num" }, n.connections),
    h("td", { class: "num" }, n.users),
    h("td", { class: "num" }, fmtRate(n.messagesInPerSecond)),
    h("td", { class: "num" }, fmtRate(n.messagesOutPerSecond)),
    h("td", { class: "mono" }, n.version || ""),
    h("td", { class: "muted" }, fmtAgo(n.startedAt))));
  const q = f.queues;
  const largest = (q.largest || []).map((u) => h("tr", {},
    h("td", {}, h("a", { href: "#/users/" + encodeURIComponent(u.userId) }, u.userId)),
    h("td", { class: "num" }, u.depth)));
  return [
    h("h1", {}, "Fleet overview"),
    (f.warnings || []).length ? h("div", { class: "warning", id: "fleet-warnings", role: "status" },
      f.warnings.map((w) => h("p", {}, w))) : null,
    h("div", { class: "grid" },
      stat("Nodes", t.nodes, "total-nodes"),
      stat("Connections", t.connections, "total-connections"),
      stat("Users", t.users, "total-users"),
      stat("Messages in /s", fmtRate(t.messagesInPerSecond), "total-in"),
      stat("Messages out /s", fmtRate(t.messagesOutPerSecond), "total-out")),
    h("div", { class: "grid2" },
      h("section", { class: "card chart" }, h("h2", {}, "Connections, last 15 minutes"),
        chart(f.series, [["connections", "series-a"]], f.intervalSeconds),
        h("div", { class: "legend" }, h("span", { class: "swatch-a" }, "■ connections"))),
      h("section", { class: "card chart" }, h("h2", {}, "Messages per second, last 15 minutes"),
        chart(f.series, [["in", "series-a"], ["out", "series-b"]], f.intervalSeconds),
        h("div", { class: "legend" }, h("span", { class: "swatch-a" }, "■ in (client frames)"), h("span", { class: "swatch-b" }, "■ out (to clients)")))),
    h("section", { class: "card" }, h("h2", {}, "Nodes"),
      table(["Node", "State", { label: "Connections", num: true }, { label: "Users", num: true }, { label: "In /s", num: true },
        { label: "Out /s", num: true }, "Version", "Started"], nodes, "No node has reported yet.")),
    h("div", { class: "grid2" },
      h("section", { class: "card", id: "queues" }, h("h2", {}, "Offline queues"),
        h("p", {}, h("strong", { id: "queue-waiting" }, q.waiting), " messages waiting for ", h("strong", {}, q.users), " users",
          q.expired ? " · " + q.expired + " expired" : "", q.failed ? " · " + q.failed + " dropped (queue full)" : ""),
        table(["Largest queues", { label: "Depth", num: true }], largest, "Every queue is empty.")),
      h("section", { class: "card", id: "recent" }, h("h2", {}, "Last " + Math.round(f.recent.windowSeconds / 60) + " minutes"),
        h("p", {}, h("strong", { class: f.recent.rateLimitBlocks ? "warn" : "" }, f.recent.rateLimitBlocks), " rate-limit blocks"),
        h("p", {}, h("strong", { class: f.recent.slowConsumerCloses ? "warn" : "" }, f.recent.slowConsumerCloses), " slow-consumer closes"))),
  ];
}

// chart draws series of samples as lines in an SVG, with the peak
// labelled. It needs no library and no inline style.
function chart(samples, lines, intervalSeconds) {
  const W = 600, H = 140, pad = 24;
  const el = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": lines.map((l) => l[0]).join(" and ") });
  el.append(svg("line", { x1: pad, y1: H - pad, x2: W, y2: H - pad, class: "axis" }));
  if (!samples || samples.length === 0) {
    const t = svg("text", { x: pad + 4, y: H / 2 });
    t.textContent = "Samples appear every " + intervalSeconds + "s.";
    el.append(t);
    return el;
  }
  const now = Math.floor(Date.now() / 1000);
  const from = now - 15 * 60;
  let peak = 1;
  for (const s of samples) for (const [k] of lines) peak = Math.max(peak, s[k]);
  const x = (t) => pad + ((t - from) / (now - from)) * (W - pad);
  const y = (v) => H - pad - (v / peak) * (H - 2 * pad);
  for (const [k, cls] of lines) {
    const pts = samples.filter((s) => s.t >= from).map((s) => `${x(s.t).toFixed(1)},${y(s[k]).toFixed(1)}`);
    if (pts.length === 1) pts.push(pts[0].replace(/^[\d.]+/, String(W)));
    el.append(svg("polyline", { points: pts.join(" "), class: cls }));
  }
  const label = svg("text", { x: 2, y: pad - 8 });
  label.textContent = "peak " + fmtRate(peak);
  const left = svg("text", { x: pad, y: H - 6 });
  left.textContent = "-15m";
  const right = svg("text", { x: W - 28, y: H - 6 });
  right.textContent = "now";
  el.append(label, left, right);
  return el;
}

// ---- a user -------------------------------------------------------------

function userView(view, userId) {
  const root = h("div", { id: "user" }, h("h1", {}, "User ", h("span", { class: "mono" }, userId)), h("p", { class: "muted" }, "Loading…"));
  view.append(root);
  let stopped = false;
  let timer = null;
  const load = async () => {
    clearTimeout(timer);
    try {
      const u = await api("GET", "/admin/users/" + encodeURIComponent(userId));
      if (stopped) return;
      const keep = root.querySelector("#send-form");
      root.replaceChildren(...renderUser(u, load, keep).filter(Boolean));
    } catch (e) {
      if (!stopped) handleFailure(e);
    }
    if (!stopped) timer = setTimeout(load, POLL_MS * 2);
  };
  load();
  return () => { stopped = true; clearTimeout(timer); };
}

function renderUser(u, reload, keptForm) {
  const act = (label, cls, fn) => h("button", { type: "button", class: cls, onclick: async (ev) => {
    ev.target.disabled = true;
    try { showError(null); showNotice(await fn()); reload(); } catch (e) { showError(e); } finally { ev.target.disabled = false; }
  } }, label);
  const sessions = u.sessions.map((s) => h("tr", {},
    h("td", { class: "mono" }, s.node),
    h("td", {}, s.transport),
    h("td", { title: fmtTime(s.since) }, fmtAgo(s.since)),
    h("td", {}, s.channels.length ? s.channels.join(", ") : h("span", { class: "muted" }, "none")),
    h("td", { class: "mono" }, s.ip),
    h("td", {}, s.tokenId ? act("Revoke token", "danger", async () => {
      const r = await api("POST", "/admin/tokens/revoke", { jti: s.tokenId });
      return `Token ${r.jti} revoked; ${r.disconnected} connection(s) closed.`;
    }) : h("span", { class: "muted" }, "no jti"))));
  const queued = (u.queue ? u.queue.messages : []).map((m) => h("tr", {},
    h("td", { class: "mono" }, m.id), h("td", {}, m.type), h("td", {}, m.priority), h("td", {}, fmtTime(m.timestamp))));
  const deliveries = u.deliveries.map((d) => h("tr", {},
    h("td", {}, fmtTime(d.at)), h("td", { class: "mono" }, d.messageId), h("td", {}, d.type), h("td", {}, d.priority),
    h("td", {}, h("span", { class: "pill " + (d.status === "delivered" ? "ok" : "warn") }, d.status))));
  return [
    h("h1", {}, "User ", h("span", { class: "mono" }, u.userId), " ",
      h("span", { id: "user-online", class: "pill " + (u.online ? "ok" : "muted") }, u.online ? "online" : "offline")),
    u.unreachable.length || (u.warnings || []).length ? h("div", { class: "warning", id: "user-warnings", role: "status" },
      u.unreachable.length ? h("p", {}, "Not shown: the connections on " + u.unreachable.join(", ") + ", which did not answer.") : null,
      (u.warnings || []).map((w) => h("p", {}, w))) : null,
    h("section", { class: "card" }, h("h2", {}, `Connections (${u.connections} across the fleet)`),
      table(["Node", "Transport", "Since", "Channels", "IP", ""], sessions, "No live connection."),
      h("div", { class: "actions" },
        act("Disconnect everywhere", "danger", async () => {
          const r = await api("POST", "/admin/users/" + encodeURIComponent(u.userId) + "/disconnect");
          return `${r.disconnected} connection(s) closed.`;
        }))),
    keptForm || sendForm(u.userId),
    h("section", { class: "card" }, h("h2", {}, `Offline queue (${u.queue ? u.queue.depth : 0})`),
      table(["Message", "Type", "Priority", "Queued at"], queued, "The queue is empty."),
      h("div", { class: "actions" },
        act("Clear queue", "danger", async () => {
          const r = await api("DELETE", "/admin/queues/user/" + encodeURIComponent(u.userId));
          return `${r.cleared} message(s) removed from the queue.`;
        }))),
    h("section", { class: "card" }, h("h2", {}, "Last direct messages"),
      table(["At", "Message", "Type", "Priority", "Outcome"], deliveries, "No direct message sent lately.")),
  ];
}

function payloadOf(text) {
  if (!text.trim()) return undefined;
  try { return JSON.parse(text); } catch (e) {
    throw new Error("The payload is not valid JSON: " + e.message);
  }
}

function sendForm(userId) {
  const form = h("form", { id: "send-message", class: "form-grid", autocomplete: "off" },
    h("label", { for: "send-type" }, "Type"), h("input", { id: "send-type", name: "type", value: "notification", required: true }),
    h("label", { for: "send-payload" }, "Payload (JSON)"), h("textarea", { id: "send-payload", name: "payload", rows: 3 }, '{"message": "hello"}'),
    h("label", { for: "send-priority" }, "Priority"),
    h("select", { id: "send-priority", name: "priority" }, ["normal", "high", "low"].map((p) => h("option", { value: p }, p))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Send message")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      showError(null);
      const d = await api("POST", "/ws/send/" + encodeURIComponent(userId), {
        type: form.elements.type.value, payload: payloadOf(form.elements.payload.value), priority: form.elements.priority.value });
      showNotice(`Message ${d.messageId} ${d.status}.`);
    } catch (e) { showError(e); }
  });
  return h("section", { class: "card", id: "send-form" }, h("h2", {}, "Send a message"), form);
}

// ---- a channel ----------------------------------------------------------

function channelView(view, name) {
  const feed = h("ul", { class: "feed", id: "channel-feed" });
  const state = h("span", { id: "channel-state", class: "pill muted" }, "connecting");
  const presence = h("div", { id: "channel-presence" }, h("p", { class: "muted" }, "Loading…"));
  const form = h("form", { class: "form-grid", autocomplete: "off", id: "publish-form" },
    h("label", { for: "pub-type" }, "Type"), h("input", { id: "pub-type", name: "type", value: "announcement", required: true }),
    h("label", { for: "pub-payload" }, "Payload (JSON)"), h("textarea", { id: "pub-payload", name: "payload", rows: 3 }, '{"message": "hello"}'),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Publish")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      showError(null);
      const d = await api("POST", "/ws/publish", { channel: name, type: form.elements.type.value, payload: payloadOf(form.elements.payload.value) });
      showNotice(`Message ${d.messageId}: ${d.status.replace("_", " ")}.`);
    } catch (e) { showError(e); }
  });
  view.append(h("div", { id: "channel" },
    h("h1", {}, "Channel ", h("span", { class: "mono" }, name), " ", state),
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, "Live messages"), feed),
      h("div", {},
        h("section", { class: "card" }, h("h2", {}, "Publish"), form),
        h("section", { class: "card" }, h("h2", {}, "Subscribers and presence"), presence)))));

  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/ws", ["fleetwire", "fleetwire.bearer." + token()]);
  ws.addEventListener("message", (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    if (f.event === "connected") {
      ws.send(JSON.stringify({ event: "subscribe", id: 1, data: { channels: [name] } }));
    } else if (f.event === "ack" && f.id === 1) {
      const r = f.data.results[0];
      if (r.ok) { state.textContent = "watching"; state.className = "pill ok"; }
      else { state.textContent = "refused"; state.className = "pill bad"; showError(new APIError(403, r.error.code, r.error.message)); }
    } else if (f.event === "error") {
      showError(new APIError(0, f.data.code, f.data.message));
    } else if (f.data && f.data.channel === name && f.data.id) {
      feed.prepend(h("li", {},
        h("div", {}, h("strong", {}, f.data.type), " ", h("span", { class: "muted" }, fmtTime(f.data.timestamp)), " ",
          h("span", { class: "mono muted" }, f.data.id), f.data.publisher ? " by " + f.data.publisher : ""),
        h("pre", { class: "mono" }, JSON.stringify(f.data.payload, null, 2))));
      while (feed.children.length > 200) feed.lastChild.remove();
    }
  });
  ws.addEventListener("close", (ev) => {
    state.textContent = "closed (" + ev.code + ")";
    state.className = "pill bad";
  });
  ws.addEventListener("error", () => showError(new Error("The WebSocket to this node failed. Is the token still valid?")));

  let stopped = false;
  let timer = null;
  const loadPresence = async () => {
    try {
      const [st, list] = await Promise.all([
        api("GET", "/ws/channels/" + encodeURIComponent(name) + "/presence-stats"),
        api("GET", "/ws/channels/" + encodeURIComponent(name) + "/presence?limit=100")]);
      if (stopped) return;
      presence.replaceChildren(
        h("p", {}, h("strong", {}, st.users), " users on ", h("strong", {}, st.connections), " connections"),
        table(["User", { label: "Connections", num: true }], list.members.map((m) => h("tr", {},
          h("td", {}, h("a", { href: "#/users/" + encodeURIComponent(m.userId) }, m.userId)),
          h("td", { class: "num" }, m.connections))), "Nobody is here."));
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.code === "presence_disabled") {
        presence.replaceChildren(h("p", { class: "muted" }, "This channel's namespace records no presence (set presence: true on its namespace to see who is here)."));
        return;
      }
      presence.replaceChildren(h("p", { class: "bad" }, e instanceof APIError ? e.readable() : String(e.message)));
    }
    if (!stopped) timer = setTimeout(loadPresence, POLL_MS * 2);
  };
  loadPresence();
  return () => { stopped = true; clearTimeout(timer); ws.close(1000); };
}

// ---- start --------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  // The sign-in section in the page is the template of the sign-in view.
  const section = $("sign-in");
  const tpl = document.createElement("template");
  tpl.id = "sign-in-template";
  section.hidden = false;
  tpl.content.append(section);
  document.body.append(tpl);

  applyTheme(localStorage.getItem(THEME_KEY));
  $("theme").addEventListener("click", () => {
    const dark = !document.documentElement.classList.contains("dark");
    localStorage.setItem(THEME_KEY, dark ? "dark" : "light");
    applyTheme(dark ? "dark" : "light");
  });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); route(); });
  $("find-user").addEventListener("submit", (ev) => { ev.preventDefault(); go("users/" + encodeURIComponent($("find-user-id").value.trim())); });
  $("find-channel").addEventListener("submit", (ev) => { ev.preventDefault(); go("channels/" + encodeURIComponent($("find-channel-name").value.trim())); });
  window.addEventListener("hashchange", route);
  route();
});
