"use strict";
// Helpers shared by the scripts that the Go tests run (see nodeclient).
// Every script reports each step as one JSON line on stdout and exits
// non-zero on failure; a hard timer ends it with exit code 2 whatever
// happens, so a hung connection cannot hang the Go test. Scripts that end
// with their connection closed let node exit by itself, so that the
// client's close packet reaches the server; the Go tests check that the
// server saw every session end.

const deadline = Number(process.env.SIO_TIMEOUT_MS || 20000);
// unref: a script that closed its connections ends on its own, without
// cutting off the request that carries its close packet.
setTimeout(() => {
  out({ step: "timeout", after_ms: deadline });
  process.exit(2);
}, deadline).unref();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// plain turns received values into JSON-friendly ones: binary values (Buffer,
// ArrayBuffer, typed arrays) become {"$bin": "<base64>"} so the Go side can
// tell them from strings.
function plain(v) {
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}

// emitAck emits an event and resolves with every argument of the ack.
function emitAck(socket, ev, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(ev, ...args, (err, ...resp) => (err ? reject(err) : resolve(resp)));
  });
}

// next resolves with the arguments of the next `ev` the emitter emits.
function next(emitter, ev) {
  return new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
}

function fail(err) {
  out({ step: "error", message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

function options() {
  const o = { reconnection: false, forceNew: true, timeout: 5000 };
  if (process.env.SIO_TRANSPORTS) o.transports = process.env.SIO_TRANSPORTS.split(",");
  if (process.env.SIO_AUTH) o.auth = JSON.parse(process.env.SIO_AUTH);
  return o;
}

// connectRuntime opens a socket to SIO_URL with SIO_TOKEN as the `auth`
// payload, waits for the runtime's "connected" event, reports it, and
// returns the socket.
async function connectRuntime() {
  const { io } = require("socket.io-client");
  const o = options();
  o.auth = { token: process.env.SIO_TOKEN };
  const socket = io(process.env.SIO_URL, o);
  const connected = next(socket, "connected");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) throw new Error("connect_error: " + err.message + " " + JSON.stringify(err.data));
  const [data] = await connected;
  out({ step: "connected", userId: data.userId, transport: socket.io.engine.transport.name });
  return socket;
}

module.exports = { out, plain, emitAck, next, fail, options, connectRuntime };
