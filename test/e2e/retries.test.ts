/**
 * End to end, real sockets, two listener threads: when a failed attempt is sent to
 * another backend. A POST refused at connect goes elsewhere and arrives once, body
 * intact; a POST whose bytes reached a backend is never sent again; under a storm of
 * failures at a backend that took the requests, the retries in flight stay within the
 * shared budget, max(3, 20% of the requests in flight), the rest answered with the 502 of
 * their failure; refusals at connect are sent on outside the budget.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { MIN_RETRIES_IN_FLIGHT, RETRY_SHARE } from '../../src/routing/retry-budget.ts';
import { deadPort, startTestBalancer, waitFor, within } from '../helpers.ts';
import { createClient, resetAfterBody, startE2eBackend } from '../fixtures/e2e-traffic.ts';

const backendArgs = (origins: readonly string[]): string[] => origins.flatMap((origin) => ['--backend', origin]);
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

test('a POST refused at connect is sent to another backend and arrives there exactly once, body intact', async (t) => {
  const [y, z] = await Promise.all(['y', 'z'].map((name) => startE2eBackend(t, name)));
  const dead = `http://127.0.0.1:${await deadPort()}`;
  // Never ejected: the dead backend keeps its turn, so POSTs keep being refused there.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-after', '0', ...backendArgs([dead, y!.origin, z!.origin])]);
  const client = createClient(t, balancer.url);

  // Streamed bodies (no --max-body), large enough to fill the socket buffers on the way.
  const bodies = Array.from({ length: 6 }, () => randomBytes(256 * 1024));
  for (const [i, body] of bodies.entries()) {
    const answer = await client.send(`/upload/${i}`, { method: 'POST', body, fresh: i % 2 === 1, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(answer.status, 200, answer.body);
  }

  const arrived = [...y!.proxied, ...z!.proxied].map((r) => sha(r.body)).sort();
  assert.deepEqual(arrived, bodies.map(sha).sort(), 'each body arrived once, intact');
  const [deadSlot, ySlot, zSlot] = [dead, y!.origin, z!.origin].map((origin) => balancer.state.snapshot(balancer.state.slotOf(origin)));
  assert.ok(deadSlot!.failures >= 1, 'some POSTs were first sent to the dead backend');
  assert.equal(ySlot!.retries + zSlot!.retries, deadSlot!.failures, 'each refused POST was retried once, elsewhere');
});

test('a GET, and a chunked PUT read whole under --max-body, whose connection was cut before any response byte are sent to another backend, once', async (t) => {
  const [x, y] = await Promise.all(['x', 'y'].map((name) => startE2eBackend(t, name)));
  x!.behave(resetAfterBody);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--max-body', '1m', ...backendArgs([x!.origin, y!.origin])]);
  const client = createClient(t, balancer.url);

  const body = randomBytes(100 * 1024);
  // No content-length: sent chunked, so --max-body makes the balancer read it whole first.
  const chunked = (): Readable => Readable.from([body.subarray(0, 50 * 1024), body.subarray(50 * 1024)]);
  const answers = [];
  for (let i = 0; i < 4; i++) {
    answers.push(await client.send(`/get/${i}`, { fresh: i % 2 === 1 }));
    answers.push(await client.send(`/put/${i}`, { method: 'PUT', body: chunked(), fresh: i % 2 === 0 }));
  }
  for (const answer of answers) assert.deepEqual({ status: answer.status, backend: answer.backend }, { status: 200, backend: 'y' });
  const puts = y!.proxied.filter((r) => r.method === 'PUT');
  assert.equal(puts.length, 4);
  for (const put of puts) {
    assert.equal(put.headers['transfer-encoding'], undefined, 'a body read whole goes out with a length');
    assert.equal(sha(put.body), sha(body), 'the PUT body arrived intact');
  }
  assert.equal(y!.proxied.length, 8, 'each request reached y once');
  const xSlot = balancer.state.snapshot(balancer.state.slotOf(x!.origin));
  assert.equal(x!.proxied.length, xSlot.started, 'x saw each request it was sent');
  assert.ok(xSlot.failures >= 1, 'some requests were cut at x first');
  assert.equal(balancer.state.snapshot(balancer.state.slotOf(y!.origin)).retries, xSlot.failures, 'each cut request was retried once, at y');
});

test('a POST whose body reached a backend that then cut the connection is not sent again: the client gets 502', async (t) => {
  const backends = await Promise.all(['x', 'y'].map((name) => startE2eBackend(t, name)));
  for (const backend of backends) backend.behave(resetAfterBody);
  const balancer = await startTestBalancer(t, ['--threads', '2', ...backendArgs(backends.map((b) => b.origin))]);
  const client = createClient(t, balancer.url);

  const bodies = [randomBytes(64 * 1024), randomBytes(64 * 1024)];
  for (const [i, body] of bodies.entries()) {
    const answer = await client.send(`/order/${i}`, { method: 'POST', body, fresh: i === 1 });
    assert.equal(answer.status, 502);
    assert.match(answer.body, /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ (closed the connection|reset the connection)[^\n]*\n$/);
  }
  const arrived = backends.flatMap((b) => b.proxied).map((r) => sha(r.body)).sort();
  assert.deepEqual(arrived, bodies.map(sha).sort(), 'each POST reached a backend exactly once');
  const totals = balancer.state.backends().reduce((sum, b) => ({ started: sum.started + b.started, retries: sum.retries + b.retries }), { started: 0, retries: 0 });
  assert.deepEqual(totals, { started: 2, retries: 0 });
});

test('the retry budget holds under a storm: retries in flight stay within max(3, 20% of requests in flight), the rest get the 502 of their failure', async (t) => {
  const REQUESTS = 60;
  const held = await startE2eBackend(t, 'held');
  // A backend that takes every request and then cuts the connection without an answer:
  // it may have worked on each one, so sending them elsewhere is a retry, and budgeted.
  const resetter = await startE2eBackend(t, 'resetter');
  resetter.behave(resetAfterBody);
  // Never ejected: every request whose turn is the resetter fails there and asks for a retry.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-after', '0', ...backendArgs([resetter.origin, held.origin])]);
  const client = createClient(t, balancer.url, { connections: REQUESTS });

  // The live backend holds every request, so retries stay in flight, until each request
  // is either held there or answered (a refused retry): then everything is let through.
  held.hold();
  let refusedAnswers = 0;
  const answers = Array.from({ length: REQUESTS }, (_, i) =>
    client.send(`/storm/${i}`, { fresh: i % 4 === 0 }).then((answer) => {
      if (answer.status !== 200) refusedAnswers++;
      return answer;
    }),
  );
  await waitFor(() => held.held + refusedAnswers === REQUESTS, 'every request held or answered', { timeoutMs: 20_000 });
  const peak = balancer.state.header('retriesPeak');
  held.release();
  const done = await within(Promise.all(answers), 'every answer', 20_000);

  const state = balancer.state;
  const refused = state.headerCount('retriesRefused');
  const resetSlot = state.snapshot(state.slotOf(resetter.origin));
  const heldSlot = state.snapshot(state.slotOf(held.origin));
  const limit = Math.max(MIN_RETRIES_IN_FLIGHT, Math.floor(REQUESTS * RETRY_SHARE));
  t.diagnostic(`${resetSlot.failures} failures at the resetting backend: ${heldSlot.retries} retried, ${refused} refused; peak ${peak} retries in flight (limit ${limit})`);

  assert.ok(peak <= limit, `at most ${limit} retries in flight, saw ${peak}`);
  assert.ok(refused > 0, 'the budget refused retries');
  assert.equal(heldSlot.retries + refused, resetSlot.failures, 'each failure was either retried or refused');
  assert.equal(resetter.proxied.length, resetSlot.failures, 'the resetting backend saw each of those requests once');
  const statuses = done.map((a) => a.status);
  assert.equal(statuses.filter((s) => s === 502).length, refused, 'a refused retry answers the 502 of its failure');
  assert.equal(statuses.filter((s) => s === 200).length, REQUESTS - refused);
  assert.equal(held.proxied.length, REQUESTS - refused, 'every other request reached the live backend once');
  for (const a of done.filter((x) => x.status === 502)) assert.match(a.body, /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ (reset the connection|closed the connection)/);
  await waitFor(() => state.header('retriesInFlight') === 0 && state.header('requestsInFlight') === 0, 'the budget released');
});

test('requests refused at connect are sent on without a place in the retry budget: a dead backend under load costs no client an error', async (t) => {
  const REQUESTS = 60;
  const held = await startE2eBackend(t, 'held');
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-after', '0', ...backendArgs([dead, held.origin])]);
  const client = createClient(t, balancer.url, { connections: REQUESTS });
  held.hold();
  const answers = Array.from({ length: REQUESTS }, (_, i) => client.send(`/burst/${i}`, { fresh: i % 4 === 0 }));
  await waitFor(() => held.held === REQUESTS, 'every request held at the live backend', { timeoutMs: 20_000 });
  held.release();
  const done = await within(Promise.all(answers), 'every answer', 20_000);
  const state = balancer.state;
  const deadSlot = state.snapshot(state.slotOf(dead));
  t.diagnostic(`${deadSlot.failures} refusals at the dead backend, all sent on; retry budget peak ${state.header('retriesPeak')}`);
  assert.ok(deadSlot.failures > MIN_RETRIES_IN_FLIGHT, 'more refusals at once than the budget would have let through');
  assert.deepEqual(
    done.map((a) => a.status),
    done.map(() => 200),
  );
  assert.equal(state.headerCount('retriesRefused'), 0);
  assert.equal(state.header('retriesPeak'), 0, 'none of them took a budget place');
});
