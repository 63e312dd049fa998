/**
 * HTTP/2 and a graceful stop: a stream in flight when the balancer drains finishes with
 * its whole response, the client is told GOAWAY (so it opens no new stream here), and the
 * connection then closes, within --shutdown-timeout.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { test } from 'node:test';
import { startBackend, startTestBalancer, waitFor, within } from '../helpers.ts';

test('a drain lets the streams in flight finish, sends GOAWAY, then closes the connection', async (t) => {
  const backend = await startBackend(t, (_req, res) => setTimeout(() => res.end('finished'), 400));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c', '--shutdown-timeout', '10s']);
  const session = connect(balancer.url);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const goaway = new Promise((resolve) => session.once('goaway', resolve));
  const closed = new Promise((resolve) => session.once('close', resolve));
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/slow' });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
  await waitFor(() => backend.received.length === 1, 'the request reached the backend');
  const stopped = balancer.stop(10_000);
  await within(goaway, 'GOAWAY');
  assert.deepEqual(await within(answer, 'the stream in flight'), { status: 200, body: 'finished' });
  await within(closed, 'the connection closed');
  assert.equal(await stopped, 0, 'nothing aborted at the deadline');
});
