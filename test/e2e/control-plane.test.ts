/**
 * End to end, real sockets, two listener threads: the control plane's operations under
 * continuous keep-alive and fresh-connection load. A backend added starts receiving; a
 * new weight changes the split; a drained backend gets no new request while those in
 * flight finish with 200; a removed one frees its slot once its last request is done;
 * and no client request fails or is lost throughout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBalancer, waitFor } from '../helpers.ts';
import { startE2eBackend, startLoad, type Answer } from '../fixtures/e2e-traffic.ts';

const shareOf = (answers: readonly Answer[], name: string): number => answers.filter((x) => x.backend === name).length / answers.length;

test('add, set weight, drain and remove backends under load: each takes effect, and no client request fails or is lost', async (t) => {
  const [a, b, c, d, e] = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', a!.origin, '--backend', b!.origin, '--backend', c!.origin]);
  const { table, state } = balancer;
  const load = startLoad(t, balancer.url, { keepAlive: 6, fresh: 2 });
  await load.next(100, 'answers before any change');

  // addBackend: the new backend starts receiving.
  const slotD = table.addBackend({ origin: d!.origin, weight: 1 });
  await waitFor(() => d!.proxied.length > 0, 'd receiving');
  await load.next(50, 'answers after the add');

  // setWeight: d's share goes from a quarter to half.
  let mark = load.answers.length;
  await load.next(300, 'answers at weight 1');
  const before = shareOf(load.answers.slice(mark), 'd');
  table.setWeight(d!.origin, 3);
  await load.next(50, 'answers picked before the new weight');
  mark = load.answers.length;
  await load.next(300, 'answers at weight 3');
  const after = shareOf(load.answers.slice(mark), 'd');
  t.diagnostic(`d's share: ${before.toFixed(3)} at weight 1 of 4, ${after.toFixed(3)} at weight 3 of 6`);
  assert.ok(before > 0.15 && before < 0.35, `d's share at weight 1 of 4: ${before}`);
  assert.ok(after > 0.4 && after < 0.6, `d's share at weight 3 of 6: ${after}`);

  // drainBackend: b is drained while it holds requests; they finish with 200 afterwards.
  const slotB = state.slotOf(b!.origin);
  b!.hold(() => table.drainBackend(b!.origin));
  await waitFor(() => state.slotState(slotB) === 'draining', 'b draining');
  await load.next(200, 'answers while b drains with requests held');
  const held = b!.held;
  assert.ok(held >= 1, 'b holds requests from before the drain');
  assert.equal(state.snapshot(slotB).inFlight, held, 'b has exactly its held requests in flight');
  b!.release();
  await waitFor(() => state.snapshot(slotB).inFlight === 0, 'b has finished its requests');
  const reachedB = b!.proxied.length;
  await load.next(300, 'answers after the drain');
  assert.equal(b!.proxied.length, reachedB, 'no new request reached the drained backend');
  assert.equal(state.snapshot(slotB).started, reachedB, 'every request started at b reached it');

  // removeBackend: c is removed while it holds a request; the removal waits for it.
  const slotC = state.slotOf(c!.origin);
  let removal: Promise<number> | null = null;
  let removed: number | null = null;
  c!.hold(() => {
    removal = table.removeBackend(c!.origin, { timeoutMs: 30_000 });
    void removal.then((left) => (removed = left));
  });
  await waitFor(() => removal !== null, 'the removal under way');
  await load.next(200, 'answers while c is being removed');
  assert.equal(removed, null, 'the removal waits for the request c holds');
  assert.equal(state.slotState(slotC), 'draining');
  c!.release();
  assert.equal(await removal, 0, 'c was removed with nothing still running');
  assert.equal(state.slotOf(c!.origin), -1);
  assert.equal(state.slotState(slotC), 'empty');
  assert.ok(balancer.logged.includes(`backend ${c!.origin}: removed`), balancer.logged.join('\n'));
  // The freed slot is taken by the next backend added.
  assert.equal(table.addBackend({ origin: e!.origin, weight: 1 }), slotC);
  await waitFor(() => e!.proxied.length > 0, 'e receiving in the freed slot');
  await load.next(200, 'answers after the removal');
  await load.stop();

  assert.deepEqual(load.failures, [], 'no client request failed');
  assert.ok(load.answers.every((x) => x.status === 200));
  const relayed = [a, b, c, d, e].reduce((sum, x) => sum + x!.proxied.length, 0);
  assert.equal(relayed, load.answers.length, 'each client request reached exactly one backend once: none lost, none sent twice');
  assert.equal(state.snapshot(slotD).weight, 3);
  await waitFor(() => state.backends().every((x) => x.inFlight === 0), 'every in-flight count back to 0');
});
