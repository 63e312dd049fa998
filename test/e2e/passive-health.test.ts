/**
 * End to end, real sockets, two listener threads: passive health. A backend that dies
 * under load costs no client an error, is ejected after --eject-after failures of real
 * traffic, is tried again after --eject-time and rejoins once it answers; the event log
 * tells that story line by line; passive checks alone never empty the set; with
 * --eject-on-5xx, 5xx answers count as failures and are still relayed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { EJECTION } from '../../src/shared/layout.ts';
import { deadPort, startTestBalancer, waitFor, within } from '../helpers.ts';
import { answer, createClient, sendUntil, startE2eBackend, startLoad, tally } from '../fixtures/e2e-traffic.ts';

const backendArgs = (origins: readonly string[]): string[] => origins.flatMap((origin) => ['--backend', origin]);

/** The log lines about `origin`, without the `backend ORIGIN: ` prefix. */
const linesAbout = (logged: readonly string[], origin: string): string[] =>
  logged.filter((line) => line.startsWith(`backend ${origin}: `)).map((line) => line.slice(`backend ${origin}: `.length));

test('a backend killed under keep-alive and fresh-connection load costs no client an error; it is ejected, and rejoins once it is back', async (t) => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-time', '200ms', ...backendArgs([a!.origin, b!.origin, c!.origin])]);
  const slot = balancer.state.slotOf(b!.origin);
  const load = startLoad(t, balancer.url, { keepAlive: 2, fresh: 2 });

  await load.next(60, 'answers before the kill');
  assert.ok(b!.proxied.length > 0, 'b took part before it was killed');
  // Requests in flight at b when it dies are cut (a GET is sent elsewhere), the next
  // ones are refused at connect (sent elsewhere) until b is ejected.
  await b!.kill();
  await waitFor(() => balancer.state.snapshot(slot).ejections >= 1, 'b ejected');
  await load.next(100, 'answers while b is dead');

  await b!.revive();
  const proxiedBeforeRejoin = b!.proxied.length;
  await waitFor(() => balancer.state.snapshot(slot).ejection === EJECTION.in && b!.proxied.length > proxiedBeforeRejoin, 'b rejoined', {
    timeoutMs: 20_000,
  });
  const rejoinedAt = load.answers.length;
  await load.next(100, 'answers after the rejoin');
  await load.stop();

  assert.deepEqual(load.failures, [], 'every client request was answered 200');
  assert.ok(load.answers.slice(rejoinedAt).some((x) => x.backend === 'b'), 'b answers clients again after rejoining');
  const lines = linesAbout(balancer.logged, b!.origin);
  assert.match(lines[0] ?? '', /^ejected after \d+ consecutive failures \((ECONNREFUSED|ECONNRESET|UPSTREAM_CLOSED|EPIPE)\) for 0\.2s$/, lines.join('\n'));
  assert.equal(lines.at(-1), 'rejoined after a successful trial request', lines.join('\n'));
});

for (const ejectAfter of [1, 3]) {
  test(`a dead backend is ejected after exactly --eject-after ${ejectAfter} consecutive failures, and then gets no request`, async (t) => {
    const [a, b] = await Promise.all(['a', 'b'].map((name) => startE2eBackend(t, name)));
    const dead = `http://127.0.0.1:${await deadPort()}`;
    // A long ejection: no trial request during this test.
    const balancer = await startTestBalancer(t, [
      '--threads', '2', '--eject-after', String(ejectAfter), '--eject-time', '60s', ...backendArgs([a!.origin, b!.origin, dead]),
    ]);
    const slot = balancer.state.slotOf(dead);
    const client = createClient(t, balancer.url);

    const before: number[] = [];
    for (let i = 0; balancer.state.snapshot(slot).ejections === 0; i++) {
      assert.ok(i < 60, 'the dead backend was never ejected');
      before.push(balancer.state.snapshot(slot).failures);
      const { status } = await client.send(`/before/${i}`, { fresh: i % 2 === 1 });
      assert.equal(status, 200, 'a request refused at connect is sent elsewhere');
    }
    const ejectedAt = balancer.state.snapshot(slot);
    assert.equal(ejectedAt.failures, ejectAfter, `ejected at the failure that made ${ejectAfter} in a row (failures seen: ${before.join(',')})`);
    assert.equal(ejectedAt.started, ejectAfter);
    assert.equal(ejectedAt.ejection, EJECTION.ejected);
    await waitFor(
      () => balancer.logged.includes(`backend ${dead}: ejected after ${ejectAfter} consecutive failures (ECONNREFUSED) for 60s`),
      'the ejection logged',
    );

    // Out of rotation: round robin alternates exactly between the two left.
    const answers = await client.sequence(30, (i) => `/after/${i}`);
    assert.deepEqual(tally(answers), { a: 15, b: 15 });
    assert.equal(balancer.state.snapshot(slot).started, ejectAfter, 'no request was sent to the ejected backend');
  });
}

test('the event log: ejection, a failed trial, a trial that succeeds and the rejoin (with slow start), one line each in order', async (t) => {
  const [a, b, x] = await Promise.all(['a', 'b', 'x'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--eject-after', '2', '--eject-time', '200ms', '--slow-start', '60s', ...backendArgs([a!.origin, b!.origin, x!.origin]),
  ]);
  const slot = balancer.state.slotOf(x!.origin);
  const client = createClient(t, balancer.url);
  const snapshot = () => balancer.state.snapshot(slot);

  await x!.kill();
  const sent = await sendUntil(client, (i) => `/dead/${i}`, () => snapshot().ejections >= 2, 'a trial request to x has failed');
  // x is back, but holds the trial request until the log has reported it.
  await x!.revive();
  x!.hold();
  sent.push(...(await sendUntil(client, (i) => `/back/${i}`, () => x!.held === 1, 'the trial request at x')));
  await waitFor(() => linesAbout(balancer.logged, x!.origin).at(-1) === 'ejection over; sending one trial request', 'the trial logged');
  assert.equal(snapshot().ejection, EJECTION.trial);
  x!.release();
  await waitFor(() => snapshot().ejection === EJECTION.in, 'x rejoined');
  for (const { status } of await Promise.all(sent)) assert.equal(status, 200);
  assert.equal(snapshot().ramping, true, 'a rejoined backend ramps up (slow start)');
  await waitFor(() => linesAbout(balancer.logged, x!.origin).at(-1)?.startsWith('rejoined') === true, 'the rejoin logged');

  const lines = linesAbout(balancer.logged, x!.origin);
  const shown = lines.join('\n');
  assert.equal(lines[0], 'ejected after 2 consecutive failures (ECONNREFUSED) for 0.2s', shown);
  assert.deepEqual(lines.slice(-2), ['ejection over; sending one trial request', 'rejoined after a successful trial request; slow start over 60s'], shown);
  // Between them: the failed trials, each announced or not (a trial that fails at once
  // may come and go between two wake-ups of the log), each reported as a failed trial.
  const middle = lines.slice(1, -2);
  assert.ok(middle.some((line) => line.startsWith('trial request failed')), shown);
  for (const line of middle) {
    assert.match(line, /^(ejection over; sending one trial request|trial request failed \(ECONNREFUSED\); ejected again for (0\.4|0\.8|1\.6|3\.2)s)$/, shown);
  }
});

test('the event log reports every trial and its failure, in order, even those that came and went while the main thread was busy', async (t) => {
  const [a, b] = await Promise.all(['a', 'b'].map((name) => startE2eBackend(t, name)));
  const dead = `http://127.0.0.1:${await deadPort()}`;
  // The dead backend first: the first request's turn.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-after', '1', '--eject-time', '200ms', ...backendArgs([dead, a!.origin, b!.origin])]);
  const slot = balancer.state.slotOf(dead);
  const client = createClient(t, balancer.url);
  assert.equal((await client.send('/first')).status, 200);
  await waitFor(() => linesAbout(balancer.logged, dead).length === 1, 'the first ejection logged');

  // Clients in another thread keep sending while this thread, which runs the event log
  // (and the backends), is busy: ejections run out, trials are claimed and fail, all
  // before the log can look again.
  const clients = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const answers = [];
     for (let i = 0; i < workerData.count; i++) {
       setTimeout(() => fetch(workerData.url + '/busy/' + i).then((r) => r.text().then(() => r.status), () => 0).then((status) => {
         answers.push(status);
         if (answers.length === workerData.count) parentPort.postMessage(answers);
       }), i * 20);
     }`,
    { eval: true, workerData: { url: balancer.url, count: 30 } },
  );
  t.after(() => clients.terminate());
  const statuses = new Promise<number[]>((resolve) => clients.once('message', resolve));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
  t.diagnostic(`${balancer.state.snapshot(slot).ejections - 1} trials failed while the main thread was busy`);
  assert.deepEqual([...new Set(await within(statuses, 'the worker clients', 15_000))], [200], 'every client request was answered 200');

  const failedTrials = balancer.state.snapshot(slot).ejections - 1;
  assert.ok(failedTrials >= 1, 'a trial failed');
  await waitFor(() => linesAbout(balancer.logged, dead).length >= 1 + 2 * failedTrials, 'the trials logged');
  const lines = linesAbout(balancer.logged, dead);
  const shown = lines.join('\n');
  assert.equal(lines.length, 1 + 2 * failedTrials, shown);
  assert.equal(lines[0], 'ejected after 1 consecutive failures (ECONNREFUSED) for 0.2s');
  for (let i = 0; i < failedTrials; i++) {
    assert.equal(lines[1 + 2 * i], 'ejection over; sending one trial request', shown);
    assert.match(lines[2 + 2 * i]!, /^trial request failed \(ECONNREFUSED\); ejected again for \d+(\.\d+)?s$/, shown);
  }

  await t.test('each failed trial is reported with the length of its own ejection (doubling)', () => {
    const lengths = lines.filter((line) => line.startsWith('trial request failed')).map((line) => line.slice(line.lastIndexOf(' ') + 1));
    assert.deepEqual(lengths, Array.from({ length: failedTrials }, (_, i) => `${(200 * 2 ** (i + 1)) / 1000}s`));
  });
});

for (const { maxEjected, ejected } of [
  { maxEjected: '50%', ejected: 1 },
  // Never the last eligible backend, whatever --max-ejected allows.
  { maxEjected: '100%', ejected: 2 },
]) {
  test(`passive checks alone never empty the set: every backend dead, --max-ejected ${maxEjected} ejects ${ejected} of 3 and each request gets the 502 of its last failure`, async (t) => {
    const dead = await Promise.all([deadPort(), deadPort(), deadPort()]);
    const origins = dead.map((port) => `http://127.0.0.1:${port}`);
    const balancer = await startTestBalancer(t, [
      '--threads', '2', '--eject-after', '1', '--eject-time', '60s', '--max-ejected', maxEjected, ...backendArgs(origins),
    ]);
    const client = createClient(t, balancer.url);
    const answers = await client.sequence(12, (i) => `/r/${i}`);
    for (const { status, body } of answers) {
      assert.equal(status, 502);
      assert.match(body, /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ refused the connection \(ECONNREFUSED\)\n$/);
    }
    const out = balancer.state.backends().filter((b) => b.ejection !== EJECTION.in).length;
    assert.equal(out, ejected, 'backends ejected');
    assert.equal(balancer.state.header('ejected'), ejected);
    assert.equal(balancer.state.headerCount('noBackend'), 0, 'never a 503');
    assert.ok(balancer.state.headerCount('ejectionsRefused') > 0, 'further ejections were refused');
  });
}

test('--max-ejected counts the backends in rotation only: an ejected backend that is then disabled does not hold a place', async (t) => {
  const [c] = await Promise.all(['c'].map((name) => startE2eBackend(t, name)));
  const [a, b] = (await Promise.all([deadPort(), deadPort()])).map((port) => `http://127.0.0.1:${port}`);
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--eject-after', '1', '--eject-time', '60s', '--max-ejected', '50%', ...backendArgs([a!, b!, c!.origin]),
  ]);
  const { state } = balancer;
  const client = createClient(t, balancer.url);
  // The first request's turn is a: refused, ejected (1 of 3 under 50%), sent on to b:
  // refused, not ejected (no place left), sent on to c.
  assert.equal((await client.send('/first')).status, 200);
  assert.equal(state.snapshot(state.slotOf(a!)).ejection, EJECTION.ejected);
  const failedBefore = state.snapshot(state.slotOf(b!)).failures;
  // The operator takes a out of rotation. Of the two left in rotation, none is ejected:
  // 50% of 2 allows one, so dead b is ejected at its first failure.
  balancer.table.disableBackend(a!);
  const answers = await client.sequence(6, (i) => `/r/${i}`);
  assert.ok(answers.every((x) => x.status === 200));
  assert.equal(state.snapshot(state.slotOf(b!)).ejection, EJECTION.ejected, `b was not ejected: ${state.headerCount('ejectionsRefused')} ejections refused`);
  assert.equal(state.snapshot(state.slotOf(b!)).failures, failedBefore + 1, 'b failed once more, then was out');
});

for (const on5xx of [true, false]) {
  test(`--eject-on-5xx ${on5xx ? 'on' : 'off'}: 5xx answers ${on5xx ? 'count' : 'do not count'} toward ejection, and are relayed to the client as they are`, async (t) => {
    const [a, e] = await Promise.all(['a', 'e'].map((name) => startE2eBackend(t, name)));
    e!.behave(answer('e', 500));
    const balancer = await startTestBalancer(t, [
      '--threads', '2', '--eject-after', '3', '--eject-time', '60s', ...(on5xx ? ['--eject-on-5xx'] : []), ...backendArgs([a!.origin, e!.origin]),
    ]);
    const client = createClient(t, balancer.url);
    const answers = await client.sequence(30, (i) => `/r/${i}`);
    const errors = answers.filter((x) => x.status !== 200);
    // Relayed: the backend's own status and body, not the balancer's.
    for (const x of errors) assert.deepEqual({ status: x.status, backend: x.backend, body: x.body }, { status: 500, backend: 'e', body: 'e' });
    const slot = balancer.state.slotOf(e!.origin);
    if (on5xx) {
      assert.equal(errors.length, 3, 'e answered 3 requests, then was ejected');
      assert.equal(e!.proxied.length, 3);
      assert.equal(balancer.state.snapshot(slot).ejection, EJECTION.ejected);
      await waitFor(() => balancer.logged.includes(`backend ${e!.origin}: ejected after 3 consecutive failures (5xx response) for 60s`), 'the ejection logged');
    } else {
      assert.equal(errors.length, 15, 'e keeps its round-robin share');
      assert.equal(balancer.state.snapshot(slot).ejections, 0);
    }
    // A response is not retried: each client request reached one backend once.
    assert.equal(a!.proxied.length + e!.proxied.length, 30);
  });
}
