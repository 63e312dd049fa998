/**
 * End to end, real sockets, two listener threads: what the load-aware and hashing
 * algorithms do with real traffic. Least-connections and ewma send a slow backend fewer
 * requests than round robin does under the same load; consistent hashing keeps each key
 * on one backend whichever thread and connection carries it, and removing one of n
 * backends moves about 1/n of the keys.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startTestBalancer, within } from '../helpers.ts';
import { createClient, slowly, startE2eBackend, startLoad, type Answer } from '../fixtures/e2e-traffic.ts';

/** The share of requests the slow one of three backends got, under one load design:
 * 8 clients (6 keep-alive, 2 fresh connections), until 240 answers. */
async function slowShare(t: TestContext, algorithm: string): Promise<number> {
  const [a, b, slow] = await Promise.all(['a', 'b', 'slow'].map((name) => startE2eBackend(t, name)));
  slow!.behave(slowly('slow', 60));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--algorithm', algorithm, ...[a!, b!, slow!].flatMap((x) => ['--backend', x.origin])]);
  const load = startLoad(t, balancer.url, { keepAlive: 6, fresh: 2 });
  await load.next(240, `240 answers with ${algorithm}`, 30_000);
  await load.stop();
  assert.deepEqual(load.failures, []);
  const answers = load.answers;
  return answers.filter((x) => x.backend === 'slow').length / answers.length;
}

test('least-connections and ewma send a slow backend fewer requests than round robin does under the same load', async (t) => {
  const shares: Record<string, number> = {};
  for (const algorithm of ['round-robin', 'least-connections', 'ewma']) {
    await t.test(algorithm, async (t) => {
      shares[algorithm] = await slowShare(t, algorithm);
    });
  }
  t.diagnostic(`slow backend's share: ${Object.entries(shares).map(([name, share]) => `${name} ${share.toFixed(3)}`).join(', ')}`);
  const roundRobin = shares['round-robin']!;
  // Round robin ignores speed: a third, within the requests in flight when counting stopped.
  assert.ok(Math.abs(roundRobin - 1 / 3) < 0.05, `round robin gave the slow backend ${roundRobin}`);
  for (const algorithm of ['least-connections', 'ewma']) {
    assert.ok(shares[algorithm]! < roundRobin * 0.6, `${algorithm} gave the slow backend ${shares[algorithm]}, round robin ${roundRobin}`);
  }
});

test('consistent hashing keeps each key on one backend over every thread and connection, and removing one of 4 backends moves about 1/4 of the keys', async (t) => {
  const KEYS = 400;
  const backends = await Promise.all(['a', 'b', 'c', 'd'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--algorithm', 'consistent-hash', '--hash-key', 'header:x-user', ...backends.flatMap((x) => ['--backend', x.origin]),
  ]);
  const client = createClient(t, balancer.url, { connections: 8 });

  /** Each key's backend, sending the keys from 8 concurrent clients; `fresh` picks the connection kind. */
  const place = async (fresh: (i: number) => boolean): Promise<string[]> => {
    const answers = new Array<Answer>(KEYS);
    await within(
      Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          for (let i = worker; i < KEYS; i += 8) {
            answers[i] = await client.send(`/k/${i}`, { fresh: fresh(i), headers: { 'x-user': `user-${i}` } });
          }
        }),
      ),
      `${KEYS} keys`,
      30_000,
    );
    for (const x of answers) assert.equal(x.status, 200);
    return answers.map((x) => x.backend ?? '');
  };

  const first = await place((i) => i % 2 === 0);
  const again = await place((i) => i % 2 === 1);
  assert.deepEqual(again, first, 'every key went to the same backend again, on the other kind of connection');
  const perBackend = backends.map((x) => first.filter((name) => name === x.name).length);
  t.diagnostic(`keys per backend: ${perBackend.join(', ')}`);
  for (const count of perBackend) assert.ok(count > KEYS / 4 / 2, `keys spread over the backends: ${perBackend.join(', ')}`);

  assert.equal(await balancer.table.removeBackend(backends[3]!.origin, { timeoutMs: 5_000 }), 0);
  const after = await place((i) => i % 3 === 0);
  const moved = first.filter((name, i) => after[i] !== name).length;
  const movedElsewhere = first.filter((name, i) => name !== 'd' && after[i] !== name).length;
  t.diagnostic(`${moved} of ${KEYS} keys moved (${perBackend[3]} were on d); ${movedElsewhere} of the others moved`);
  assert.ok(after.every((name) => name !== 'd'));
  assert.ok(moved > KEYS / 4 / 2 && moved < (KEYS / 4) * 1.5, `about 1/4 of the keys moved: ${moved} of ${KEYS}`);
  // Maglev moves a few keys beyond those of the removed backend; modulo hashing would move ~3/4.
  assert.ok(movedElsewhere <= KEYS * 0.05, `${movedElsewhere} keys of the remaining backends moved`);
});
