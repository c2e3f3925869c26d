"use strict";
// rt_expiry.js connects two sockets that the runtime ends: one whose
// token expires (SIO_SHORT_TOKEN) and one whose token it revokes (the
// script asks the admin API to revoke SIO_REVOKE_JTI, the jti of
// SIO_REVOCABLE_TOKEN, with SIO_ADMIN_TOKEN). It reports the close_reason
// and the disconnect reason each socket got. Environment: SIO_URL,
// SIO_API, SIO_SHORT_TOKEN, SIO_REVOCABLE_TOKEN, SIO_REVOKE_JTI,
// SIO_ADMIN_TOKEN.
const { io } = require("socket.io-client");
const { out, plain, next, fail, options } = require("./lib");

async function ended(name, token, after) {
  const o = options();
  o.auth = { token };
  const socket = io(process.env.SIO_URL, o);
  const closeReason = next(socket, "close_reason");
  const disconnect = next(socket, "disconnect");
  const [err] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (err) throw new Error(name + ": connect_error: " + err.message + " " + JSON.stringify(err.data));
  if (after) await after();
  const [reason] = await closeReason;
  const [why] = await disconnect;
  out({ step: name, closeReason: plain(reason), disconnect: why });
}

async function revoke() {
  const res = await fetch(process.env.SIO_API + "/admin/tokens/revoke", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + process.env.SIO_ADMIN_TOKEN },
    body: JSON.stringify({ jti: process.env.SIO_REVOKE_JTI }),
  });
  if (!res.ok) throw new Error("revoke: HTTP " + res.status + " " + (await res.text()));
}

async function main() {
  await Promise.all([ended("expired", process.env.SIO_SHORT_TOKEN), ended("revoked", process.env.SIO_REVOCABLE_TOKEN, revoke)]);
  out({ step: "done" });
}

main().catch(fail);
