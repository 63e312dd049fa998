/**
 * Zero-downtime takeover of the real command (`node src/main.ts`): under continuous load
 * with a new connection per request, three new processes take over in a row (POST
 * /takeover, each with its own --sticky-cookie so that its answers can be told apart):
 * no request fails, every process answered some, and each old one exits (the first with
 * code 0). The measurement beside the naive way is bench/takeover.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { failed, startNewConnectionLoad } from '../../bench/takeover/new-connection-load.ts';
import { SwitchyardTree, waitUntilGone } from '../../bench/takeover/switchyard-process.ts';
import { startBackend, waitFor, within } from '../helpers.ts';

test('three takeovers in a row under new-connection load: no request fails, each process served, each old one exits', async (t) => {
  const backends = await Promise.all([0, 1].map(() => startBackend(t, (req, res) => (req.resume(), res.end('ok')))));
  const base = ['--threads', '2', ...backends.flatMap((backend) => ['--backend', backend.origin])];
  const tree = await SwitchyardTree.start(base);
  const predecessors: number[] = [];
  t.after(() => tree.stop(predecessors));

  const load = startNewConnectionLoad(tree.port, 16);
  t.after(() => load.stop());
  await waitFor(() => load.counts.ok >= 200, 'the first process to answer 200 requests', { timeoutMs: 20_000 });
  for (const generation of [1, 2, 3]) {
    const answer = await tree.takeover(tree.keepListeners([...base, '--sticky-cookie', `gen${generation}`]));
    predecessors.push(answer.predecessor);
    const before = load.counts.byGeneration[`gen${generation}`] ?? 0;
    await waitFor(() => (load.counts.byGeneration[`gen${generation}`] ?? 0) >= before + 200, `generation ${generation} to answer 200 requests`, { timeoutMs: 20_000 });
    assert.ok(await waitUntilGone(answer.predecessor, 20_000), `pid ${answer.predecessor} exits once taken over`);
  }
  // Connections made while the last old process drained are answered too.
  await sleep(200);
  const counts = await load.stop();

  assert.equal(failed(counts), 0, `failed requests: ${JSON.stringify(counts.failures)} of ${counts.sent}`);
  assert.equal(counts.ok, counts.sent);
  for (const generation of ['none', 'gen1', 'gen2', 'gen3']) assert.ok((counts.byGeneration[generation] ?? 0) > 0, `${generation} answered requests: ${JSON.stringify(counts.byGeneration)}`);
  assert.equal(await within(tree.firstExited, 'the first process to exit'), 0);
  assert.match(tree.output, /takeover: pid \d+ serves on the same sockets now: draining/);
  assert.match(tree.output, /taking over from pid \d+: adopting 128 listening sockets/);
});
