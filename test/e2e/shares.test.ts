/**
 * End to end, real sockets, two listener threads: how requests are shared. Weights
 * 3,1,1 give exactly 300/100/100 of 500 requests, whatever the mix of keep-alive and
 * fresh connections and whichever thread takes each; a backend added with --slow-start
 * gets a visibly smaller share while it ramps up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBalancer, within } from '../helpers.ts';
import { createClient, startE2eBackend, tally, type Answer } from '../fixtures/e2e-traffic.ts';

test('weights 3,1,1 over 500 requests on keep-alive and fresh connections, through both listener threads, give exactly 300/100/100', async (t) => {
  const REQUESTS = 500;
  const CLIENTS = 10;
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', `${a!.origin},weight=3`, '--backend', b!.origin, '--backend', c!.origin]);
  const client = createClient(t, balancer.url, { connections: CLIENTS });

  // Half the clients keep their connection, half open one per request.
  const answers: Answer[] = [];
  await within(
    Promise.all(
      Array.from({ length: CLIENTS }, async (_, id) => {
        for (let i = 0; i < REQUESTS / CLIENTS; i++) answers.push(await client.send(`/c${id}/${i}`, { fresh: id % 2 === 1 }));
      }),
    ),
    `${REQUESTS} requests`,
    30_000,
  );

  assert.ok(answers.every((x) => x.status === 200));
  assert.deepEqual(tally(answers), { a: 300, b: 100, c: 100 }, 'answers by backend');
  assert.deepEqual([a, b, c].map((x) => x!.proxied.length), [300, 100, 100], 'requests received by each backend');
  const listeners = balancer.state.listeners();
  t.diagnostic(`listener requests: ${listeners.map((l) => l.requests).join(', ')}`);
  assert.ok(listeners.every((l) => l.requests > 0), 'both listener threads took part');
  assert.equal(listeners.reduce((sum, l) => sum + l.requests, 0), REQUESTS);
});

test('slow start: a backend added with --slow-start gets a small share of requests while it ramps up, visible in the per-backend counts', async (t) => {
  const REQUESTS = 300;
  const CLIENTS = 6;
  const [a, b, n] = await Promise.all(['a', 'b', 'n'].map((name) => startE2eBackend(t, name)));
  // A ramp far longer than this test: it stays near its 10% start throughout.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--slow-start', '60s', '--backend', a!.origin, '--backend', b!.origin]);
  const client = createClient(t, balancer.url, { connections: CLIENTS });

  const slot = balancer.table.addBackend({ origin: n!.origin, weight: 1 });
  assert.ok(balancer.logged.includes(`backend ${n!.origin}: added with weight 1; slow start over 60s`));
  assert.equal(balancer.state.snapshot(slot).ramping, true);
  const answers = (
    await within(
      Promise.all(Array.from({ length: CLIENTS }, (_, id) => client.sequence(REQUESTS / CLIENTS, (i) => `/c${id}/${i}`))),
      `${REQUESTS} requests`,
      30_000,
    )
  ).flat();
  assert.ok(answers.every((x) => x.status === 200));

  const started = balancer.state.backends().map((x) => x.started);
  t.diagnostic(`started per backend (a, b, n): ${started.join(', ')}`);
  // Without slow start, round robin would give n exactly a third (30).
  const share = tally(answers).n ?? 0;
  assert.ok(share > 0, 'n takes part');
  assert.ok(share < (REQUESTS / 3) * 0.6, `n got ${share} of ${REQUESTS}, well under its full share of ${REQUESTS / 3}`);
  assert.equal(started[2], share, 'the slot counts agree with the answers');
  assert.ok(started[0]! > share * 1.5 && started[1]! > share * 1.5, `the others took the rest: ${started.join(', ')}`);
  assert.equal(balancer.state.snapshot(slot).ramping, true, 'still ramping');
});
