/**
 * End to end, real sockets, two listener threads: sticky sessions (--sticky-cookie).
 * A client's cookie pins it to the backend that first served it, on every connection
 * and whichever thread takes it; the cookie never reaches a backend; a client is pinned
 * anew, with a new cookie, when its backend failed the request or is out of rotation,
 * and a cookie that names no backend is simply replaced.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBalancer } from '../helpers.ts';
import { createClient, startE2eBackend, type Answer } from '../fixtures/e2e-traffic.ts';

const COOKIE = /^sid=([A-Za-z0-9_-]{22}); Path=\/; HttpOnly; SameSite=Lax$/;

/** The `sid=...` pair of an answer's Set-Cookie, or null when it sets none. */
function pin(answer: Answer): string | null {
  const header = answer.headers['set-cookie'];
  if (header === undefined) return null;
  const value = Array.isArray(header) ? header.join('\n') : header;
  assert.match(value, COOKIE);
  return value.split(';')[0] as string;
}

test('sticky cookies pin each client to its backend over every connection, and re-pin it when that backend fails or is drained', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const byName = new Map(backends.map((b) => [b.name, b]));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--sticky-cookie', 'sid', '--sticky-secret', 'a-test-secret-of-some-length', ...backends.flatMap((b) => ['--backend', b.origin]),
  ]);
  const client = createClient(t, balancer.url);

  // Two clients without a cookie: pinned where round robin sent them.
  const first1 = await client.send('/login/1');
  const first2 = await client.send('/login/2', { fresh: true });
  const [cookie1, cookie2] = [pin(first1), pin(first2)];
  assert.ok(cookie1 !== null && cookie2 !== null, 'a first answer sets the cookie');
  assert.notEqual(first1.backend, first2.backend);
  assert.notEqual(cookie1, cookie2);

  // Twenty requests each, over fresh and kept connections, with another cookie alongside.
  const clients: ReadonlyArray<readonly [string, string | null]> = [
    [cookie1, first1.backend],
    [cookie2, first2.backend],
  ];
  for (let i = 0; i < 20; i++) {
    for (const [cookie, home] of clients) {
      const answer = await client.send(`/page/${i}`, { fresh: i % 2 === 0, headers: { cookie: `${cookie}; theme=dark` } });
      assert.equal(answer.backend, home, `request ${i} with ${cookie} stays on ${home}`);
      assert.equal(pin(answer), null, 'a pinned client is not sent the cookie again');
    }
  }
  const pages = backends.flatMap((b) => b.proxied).filter((r) => r.url.startsWith('/page/'));
  assert.equal(pages.length, 40);
  for (const request of pages) assert.equal(request.headers.cookie, 'theme=dark', 'the sticky cookie is not forwarded; the others are');
  assert.ok(balancer.state.listeners().every((l) => l.requests > 0), 'both listener threads served pinned clients');

  // Client 1's backend dies: its next request is answered elsewhere and re-pinned there.
  await byName.get(first1.backend!)!.kill();
  const moved1 = await client.send('/after-kill', { headers: { cookie: cookie1 } });
  assert.equal(moved1.status, 200);
  assert.notEqual(moved1.backend, first1.backend);
  const newCookie1 = pin(moved1);
  assert.ok(newCookie1 !== null && newCookie1 !== cookie1, 're-pinned with a new cookie');
  for (let i = 0; i < 6; i++) {
    const answer = await client.send(`/again/${i}`, { fresh: i % 2 === 0, headers: { cookie: newCookie1 } });
    assert.equal(answer.backend, moved1.backend, 'the new pin holds');
  }

  // Client 2's backend is drained: out of rotation, so client 2 is re-pinned too.
  balancer.table.drainBackend(byName.get(first2.backend!)!.origin);
  const moved2 = await client.send('/after-drain', { fresh: true, headers: { cookie: cookie2 } });
  assert.equal(moved2.status, 200);
  assert.notEqual(moved2.backend, first2.backend);
  assert.ok(pin(moved2) !== null);

  // A cookie that names no backend is no pin and no error: the client gets a real one.
  const forged = await client.send('/forged', { headers: { cookie: 'sid=AAAAAAAAAAAAAAAAAAAAAA' } });
  assert.equal(forged.status, 200);
  assert.ok(pin(forged) !== null);
});
