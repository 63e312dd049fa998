/**
 * @module A socket with bytes buffered in JavaScript (put back after a PROXY protocol
 * header, or after the --h2c preface was sniffed), as a stream that yields those bytes
 * first. TLS and HTTP/2 read a plain socket's handle directly, past anything buffered
 * above it; over this bridge they read through JavaScript and miss nothing.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** A stream view of `socket` that starts with what is buffered in it. */
function bridge(socket: Socket): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  // A reset by the client is the stream's to report (to TLS or HTTP/2, which end the
  // connection), not an uncaught error of the thread.
  socket.on('error', (error) => stream.destroy(error));
  socket.once('close', () => stream.destroy());
  return stream;
}

/** What TLS or HTTP/2 should read `socket` through: itself, or the bridge when bytes
 * were put back into it. */
export function transportOf(socket: Socket): Duplex {
  return socket.readableLength > 0 ? bridge(socket) : socket;
}
