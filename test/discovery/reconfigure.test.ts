import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFrom, waitFor } from '../helpers.ts';
import { BackendSources } from '../../src/control/backend-sources.ts';
import { BackendTable } from '../../src/control/backend-table.ts';
import { Discovery } from '../../src/discovery/discovery.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import { TestDnsServer } from '../fixtures/dns-server.ts';

test('reconfigure (a reload): a name no longer given drains its backends, a new one is resolved at once, a changed weight applies, an unchanged name is not asked again', async (t) => {
  const dns = await TestDnsServer.start(t);
  dns.set('a.test', [{ type: 'A', data: '127.0.0.2', ttl: 60 }]);
  dns.set('b.test', [{ type: 'A', data: '127.0.0.3', ttl: 60 }]);
  dns.set('c.test', [{ type: 'A', data: '127.0.0.4', ttl: 60 }]);
  const state = SharedState.create({ capacity: 8, listenerCount: 1 });
  const logged: string[] = [];
  const table = new BackendTable(state, { slowStartMs: 0, log: (line) => logged.push(line) });
  const sources = new BackendSources(table, { removalTimeoutMs: 5_000, log: (line) => logged.push(line) });
  const discoveryOf = (names: string[]) =>
    names.length === 0 ? { ...configFrom([]).discovery } : configFrom([...names.flatMap((name) => ['--backend-dns', name]), '--resolver', dns.address]).discovery;
  const discovery = new Discovery(discoveryOf(['a.test:80', 'b.test:80']), { sources, log: (line) => logged.push(line) });
  t.after(() => discovery.stop());
  await discovery.start();
  const listed = () => table.list().map(({ origin, state, weight }) => `${origin} ${state} w${weight}`);
  assert.deepEqual(listed(), ['http://127.0.0.2 active w1', 'http://127.0.0.3 active w1']);
  const askedForA = dns.count('A', 'a.test');

  await discovery.reconfigure(discoveryOf(['a.test:80', 'b.test:80,weight=4', 'c.test:80']));
  assert.deepEqual(listed(), ['http://127.0.0.2 active w1', 'http://127.0.0.3 active w4', 'http://127.0.0.4 active w1']);
  assert.equal(dns.count('A', 'a.test'), askedForA, 'the unchanged name goes on as it was');

  await discovery.reconfigure(discoveryOf(['b.test:80,weight=4', 'c.test:80']));
  await waitFor(() => listed().length === 2, 'a.test\'s backend leaving');
  assert.deepEqual(listed(), ['http://127.0.0.3 active w4', 'http://127.0.0.4 active w1']);
  assert.deepEqual(discovery.status().map((name) => name.source), ['dns:b.test:80', 'dns:c.test:80']);

  await discovery.reconfigure(discoveryOf([]));
  await sources.settled();
  assert.deepEqual(listed(), []);
});
