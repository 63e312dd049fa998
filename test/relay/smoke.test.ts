import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { startTestBalancer } from '../helpers.ts';

test('embedded backends answer through the balancer in strict alternation', async (t) => {
  const balancer = await startTestBalancer(t, ['--threads', '2']);
  const names: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await request(balancer.url + '/x');
    names.push(String(res.headers['x-backend']));
    await res.body.text();
  }
  assert.equal(new Set(names).size, 2);
  for (let i = 2; i < names.length; i++) assert.equal(names[i], names[i - 2]);
});
