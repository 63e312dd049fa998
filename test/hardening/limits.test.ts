/**
 * Request-body and connection limits: a refused request never reaches a backend, not
 * even in part, and a listener at its connection limit answers instead of falling over.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { rawExchange, startTestBalancer, startBackend, statusOf, waitFor } from '../helpers.ts';

test('--max-body: a declared Content-Length over the limit gets 413 and the upstream sees nothing', async (t) => {
  const upstream = await startBackend(t, (req, res) => req.resume().on('end', () => res.end('ok')));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--max-body', '1k']);
  const { response } = await rawExchange(balancer.port, 'POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n' + 'z'.repeat(5000));
  assert.equal(statusOf(response), 413);
  assert.match(response, /\r\nconnection: close\r\n/i);
  assert.match(response, /\r\n\r\n413 Payload Too Large: request body is 5000 bytes; the limit is 1024\n$/);
  assert.equal(upstream.received.length, 0);
});

test('--max-body: a chunked body that grows past the limit gets 413 and the upstream sees no partial request', async (t) => {
  const upstream = await startBackend(t, (req, res) => req.resume().on('end', () => res.end('ok')));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--max-body', '1k']);
  const chunk = (text: string): string => `${text.length.toString(16)}\r\n${text}\r\n`;
  const { response } = await rawExchange(
    balancer.port,
    'POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('a'.repeat(800)) + chunk('b'.repeat(800)) + '0\r\n\r\n',
  );
  assert.equal(statusOf(response), 413);
  assert.match(response, /request body exceeds the limit of 1024 bytes\n$/);
  assert.equal(upstream.received.length, 0, 'no byte of the request was forwarded');
});

test('--max-body: a chunked body within the limit is forwarded whole, with its length', async (t) => {
  const upstream = await startBackend(t, (req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.end(`${bytes} ${req.headers['content-length']} ${req.headers['transfer-encoding'] ?? '-'}`));
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--max-body', '1k']);
  const res = await request(`${balancer.url}/small`, {
    method: 'POST',
    body: Readable.from(['a'.repeat(500), 'b'.repeat(500)]), // no length: sent chunked
  });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), '1000 1000 -');
});

test('--max-connections: a connection past the limit is answered 503 and closed; the others keep working', async (t) => {
  const upstream = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--max-connections', '2']);
  const held = [connect(balancer.port, '127.0.0.1'), connect(balancer.port, '127.0.0.1')];
  t.after(() => held.forEach((socket) => socket.destroy()));
  await Promise.all(held.map((socket) => once(socket, 'connect')));
  // Both held connections are counted once the listener has accepted them.
  await waitFor(() => balancer.state.listener(0).connections === 2, 'both held connections accepted');
  const { response } = await rawExchange(balancer.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(statusOf(response), 503);
  assert.match(response, /this listener is at its limit of 2 connections\n$/);
  assert.equal(upstream.received.length, 0);
  // A held connection is still served.
  const answer = new Promise<string>((resolve) => held[0]!.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  held[0]!.write('GET /held HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(statusOf(await answer), 200);
});

