/**
 * GET /events, read with a plain HTTP client: a text/event-stream with a retry hint, a
 * reading a few times a second with increasing timestamps, whose figures are exactly
 * those of shared memory; one reading per tick however many clients watch; and once the
 * last client leaves, the timer stops and shared memory is no longer read.
 */
import assert from 'node:assert/strict';
import { get, type IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { request } from 'undici';
import type { AdminContext } from '../../src/admin/admin-context.ts';
import { startAdminServer } from '../../src/admin/admin-server.ts';
import { eventsRoute, eventStreamsOf, RETRY_MS, TICK_MS } from '../../src/admin/events-stream.ts';
import type { LiveReading } from '../../src/admin/live-reading.ts';
import { histogramQuantile, readStats } from '../../src/admin/stats.ts';
import { BackendTable } from '../../src/control/backend-table.ts';
import { LATENCY_BOUNDS_MICROS } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import { createClient } from '../fixtures/e2e-traffic.ts';
import { configFrom, startBackend, startTestBalancer, waitFor } from '../helpers.ts';

type Cleanup = Parameters<typeof startBackend>[0];

interface StreamClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The `retry:` hint, once received. */
  readonly retry: number | null;
  /** Every reading received, in order. */
  readonly readings: readonly LiveReading[];
  /** Resolves once `count` readings have arrived in all. */
  until(count: number): Promise<readonly LiveReading[]>;
  close(): void;
}

/** Opens GET /events with node:http and parses the event stream as it comes. */
async function openStream(t: Cleanup, port: number): Promise<StreamClient> {
  const req = get({ host: '127.0.0.1', port, path: '/events' });
  t.after(() => {
    req.destroy();
  });
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  res.setEncoding('utf8');
  let buffer = '';
  let retry: number | null = null;
  const readings: LiveReading[] = [];
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      for (const line of buffer.slice(0, end).split('\n')) {
        if (line.startsWith('retry: ')) retry = Number(line.slice('retry: '.length));
        else if (line.startsWith('data: ')) readings.push(JSON.parse(line.slice('data: '.length)) as LiveReading);
        else assert.ok(line.startsWith(':'), `an unexpected line in the event stream: ${JSON.stringify(line)}`);
      }
      buffer = buffer.slice(end + 2);
    }
  });
  res.on('error', () => {});
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    get retry() {
      return retry;
    },
    readings,
    until: async (count) => {
      await waitFor(() => readings.length >= count, `${count} readings from /events`, { timeoutMs: 10_000 });
      return readings;
    },
    close: () => req.destroy(),
  };
}

test('GET /events streams a reading a few times a second: event-stream type, a retry hint, increasing timestamps, and the exact figures of shared memory', async (t) => {
  const backends = await Promise.all(['a', 'b'].map(() => startBackend(t, (_req, res) => res.end('ok'))));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', ...backends.flatMap((b) => ['--backend', b.origin])]);
  const answers = await createClient(t, balancer.url).sequence(40, (i) => `/r/${i}`);
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 200));

  const stream = await openStream(t, balancer.admin!.port);
  assert.equal(stream.status, 200);
  assert.match(stream.headers['content-type'] ?? '', /^text\/event-stream\b/);
  assert.equal(stream.headers['cache-control'], 'no-store');
  const readings = await stream.until(3);
  assert.equal(stream.retry, RETRY_MS, 'a retry hint, so that EventSource reconnects by itself');

  for (let i = 1; i < readings.length; i++) {
    const [before, after] = [readings[i - 1]!, readings[i]!];
    assert.ok(after.seq > before.seq && after.at > before.at && after.time >= before.time, `readings ${i - 1} and ${i} are in order`);
  }

  const { state } = balancer;
  const last = readings.at(-1)!;
  assert.equal(last.generation, state.header('generation'));
  assert.equal(last.ticket, state.getRoundRobinNext());
  assert.deepEqual(last.backends.map((b) => b.origin), backends.map((b) => b.origin));
  for (const backend of last.backends) {
    const { started, failures, inFlight } = state.snapshot(backend.id);
    assert.deepEqual({ started, failures, inFlight }, { started: backend.started, failures: backend.failures, inFlight: backend.inFlight });
    assert.equal(backend.responses['2xx'], state.count(backend.id, 'responses', 1));
    assert.equal(backend.status, 'up');
    // The stream has not watched for a whole window yet: quantiles cover every response.
    assert.equal(last.latencyWindowMs, null);
    const cells = Array.from({ length: LATENCY_BOUNDS_MICROS.length + 1 }, (_, cell) => state.count(backend.id, 'latency', cell));
    assert.equal(backend.p50Ms, Math.round(histogramQuantile(cells, 0.5)!) / 1000, 'p50 to the µs, from the shared histogram');
    assert.equal(backend.p99Ms, Math.round(histogramQuantile(cells, 0.99)!) / 1000);
  }
  assert.deepEqual(last.backends.map((b) => b.started), backends.map((b) => b.received.length), 'each backend received what the stream says was started there');
  assert.equal(last.listeners.length, 2);
  for (const listener of last.listeners) {
    const row = state.listener(listener.index);
    assert.deepEqual(
      { requests: listener.requests, connections: listener.connections, accepting: listener.accepting },
      { requests: row.requests, connections: row.connections, accepting: row.accepting },
    );
  }
  assert.equal(last.listeners.reduce((sum, l) => sum + l.requests, 0), 40);
});

test('GET /events: one reading per tick for every client, the counters as they change; when the last client leaves the timer stops and shared memory is no longer read', async (t) => {
  const state = SharedState.create({ capacity: 4, listenerCount: 2 });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  table.addBackend({ origin: 'http://127.0.0.1:9', weight: 1 }, { initial: true });
  let reads = 0;
  const context: AdminContext = {
    config: configFrom(['--admin-port', '0', '--backend', 'http://127.0.0.1:9']),
    state,
    table,
    listeners: [],
    startedAt: Date.now(),
    logEvent: () => {},
    discovery: () => [],
    stats: () => {
      reads++;
      return readStats(state, { slowStartMs: 0 });
    },
    takeover: null,
  };
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0, token: null }, [eventsRoute], context);
  t.after(() => admin.close());

  const refused = await request(`http://127.0.0.1:${admin.port}/events`, { method: 'POST' });
  assert.equal(refused.statusCode, 405);
  assert.equal(refused.headers.allow, 'GET');
  await refused.body.dump();
  assert.equal(reads, 0, 'nothing is read before anyone watches');
  assert.deepEqual(eventStreamsOf(context), { open: 0, ticking: false });

  const first = await openStream(t, admin.port);
  const second = await openStream(t, admin.port);
  await Promise.all([first.until(2), second.until(2)]);
  assert.deepEqual(eventStreamsOf(context), { open: 2, ticking: true });

  state.addCount(0, 'started', 7);
  state.listenerBump(1, 'requests');
  const seen = (client: StreamClient): boolean => {
    const latest = client.readings.at(-1);
    return latest !== undefined && latest.seq === reads && latest.backends[0]?.started === 7 && latest.listeners[1]?.requests === 1;
  };
  // Each tick reads shared memory once and sends that one reading to both clients.
  await waitFor(() => seen(first) && seen(second), 'both clients to show the new counters, from one read per tick', { timeoutMs: 10_000 });
  const bySeq = new Map(first.readings.map((reading) => [reading.seq, JSON.stringify(reading)]));
  const shared = second.readings.filter((reading) => bySeq.has(reading.seq));
  assert.ok(shared.length >= 2, 'the clients saw the same ticks');
  for (const reading of shared) assert.equal(JSON.stringify(reading), bySeq.get(reading.seq), `reading ${reading.seq} is the same for both`);
  assert.equal(new Set([...first.readings, ...second.readings].map((reading) => reading.instance)).size, 1, 'one admin listener, one instance');

  first.close();
  await waitFor(() => eventStreamsOf(context).open === 1, 'the first stream to be let go');
  assert.equal(eventStreamsOf(context).ticking, true, 'the other client still gets readings');
  second.close();
  await waitFor(() => eventStreamsOf(context).open === 0, 'the second stream to be let go');
  assert.equal(eventStreamsOf(context).ticking, false, 'the timer stopped with the last client');
  const readsAtClose = reads;
  await new Promise((resolve) => setTimeout(resolve, TICK_MS * 4));
  assert.equal(reads, readsAtClose, 'no reading of shared memory once nobody watches');
});
