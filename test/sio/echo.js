"use strict";
// echo.js runs the whole echo scenario against test/sio/echoserver:
// events with and without acks, binary both ways, a server-to-client ack,
// the transport upgrade when polling comes first, and a server-side
// disconnect. Environment: SIO_URL (http://host:port), SIO_NAMESPACE,
// SIO_TRANSPORTS (comma-separated; default: the client's default),
// SIO_EXPECT_TRANSPORT (the transport the session must end up on).
const { io } = require("socket.io-client");
const { out, plain, emitAck, next, fail, options } = require("./lib");

async function main() {
  const socket = io(process.env.SIO_URL + (process.env.SIO_NAMESPACE || "/"), options());
  const engineTransport = () => socket.io.engine.transport.name;
  const [connectErr] = await Promise.race([next(socket, "connect"), next(socket, "connect_error")]);
  if (connectErr) throw new Error("connect_error: " + connectErr.message);
  out({ step: "connect", id: socket.id, transport: engineTransport() });

  out({ step: "echo-ack", args: plain(await emitAck(socket, "echo", "hello", 42, { a: [1, "b"], n: null })) });

  const bin = await emitAck(socket, "echo", "bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([4, 5]), s: "x" });
  out({ step: "echo-binary-ack", args: plain(bin) });

  const echoed = next(socket, "echo");
  socket.emit("echo-emit", "no-ack", Buffer.from("payload"), [Buffer.from([0]), 7]);
  out({ step: "echo-emit", args: plain(await echoed) });

  // The server asks the client, with an ack, and reports the answer.
  socket.once("question", (...args) => {
    const ack = args.pop();
    ack("answer-to", ...args, Buffer.from([255, 254]));
  });
  const answer = next(socket, "answer");
  socket.emit("ask", "why?");
  out({ step: "server-ack", args: plain(await answer) });

  const want = process.env.SIO_EXPECT_TRANSPORT;
  if (want === "websocket" && engineTransport() !== "websocket") {
    await next(socket.io.engine, "upgrade");
  }
  out({ step: "echo-after-upgrade", transport: engineTransport(), args: plain(await emitAck(socket, "echo", "again", Buffer.from([7]))) });

  const disconnected = next(socket, "disconnect");
  socket.emit("disconnect-me");
  const [reason] = await disconnected;
  out({ step: "disconnect", reason });
  // socket.io-client closes the Engine.IO session itself once its last
  // namespace is gone; node exits when that is done.
}

main().catch(fail);
