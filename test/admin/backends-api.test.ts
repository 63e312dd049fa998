/**
 * The runtime API end to end: a balancer with two listener threads and its admin
 * listener, real backends, real requests. Each change made through /backends takes
 * effect on every thread at the next pick (round robin is exact, so the split over a
 * multiple of the weight total is checked request for request), is logged as an admin
 * action, and every bad input is refused with its status and one line.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { startTestBalancer, waitFor, type TestBalancer } from '../helpers.ts';
import { createClient, sendUntil, startE2eBackend, tally, type Answer } from '../fixtures/e2e-traffic.ts';

interface AdminAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

async function admin(balancer: TestBalancer, method: string, path: string, body?: string | Readable, headers: Record<string, string> = {}): Promise<AdminAnswer> {
  assert.ok(balancer.admin, 'the balancer has an admin listener');
  const res = await request(`http://127.0.0.1:${balancer.admin.port}${path}`, { method, body, headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** The JSON of a 2xx answer, after checking its status. */
function json<T = Record<string, unknown>>(answer: AdminAnswer, status: number, what: string): T {
  assert.equal(answer.status, status, `${what}: expected ${status}, got ${answer.status} ${answer.text}`);
  return JSON.parse(answer.text) as T;
}

/** A refusal: its status, one line of text starting with the status, matching `why`. */
function assertRefused(answer: AdminAnswer, status: number, why: RegExp, what: string): void {
  assert.equal(answer.status, status, `${what}: expected ${status}, got ${answer.status} ${answer.text}`);
  assert.match(answer.text, new RegExp(`^${status} [^\\n]+\\n$`), `${what}: a one-line body`);
  assert.match(answer.text, why, what);
}

const encoded = (origin: string): string => encodeURIComponent(origin);

/** `count` requests one after the other (every other one on a fresh connection), all of which must be 200. */
async function traffic(client: ReturnType<typeof createClient>, count: number, what: string): Promise<Record<string, number>> {
  const answers: Answer[] = await client.sequence(count, (i) => `/${what.replace(/\W+/g, '-')}/${i}`);
  assert.deepEqual(answers.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.body}`), [], `${what}: no request failed`);
  return tally(answers);
}

test('drain, enable, weight, add and remove through /backends take effect on every thread, exactly, and are logged as admin actions', async (t) => {
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--backend', a!.origin, '--backend', b!.origin, '--backend', c!.origin]);
  const client = createClient(t, balancer.url);
  const slotOf = (origin: string): number => balancer.state.slotOf(origin);

  const listed = json<Array<Record<string, unknown>>>(await admin(balancer, 'GET', '/backends'), 200, 'GET /backends');
  assert.deepEqual(
    listed.map((x) => [x.id, x.origin, x.state, x.healthy, x.ejection, x.weight, x.effectiveWeight, x.inFlight, x.started]),
    [a, b, c].map((x) => [slotOf(x!.origin), x!.origin, 'active', true, 'in', 1, 1, 0, 0]),
  );
  assert.deepEqual(await traffic(client, 30, 'before any change'), { a: 10, b: 10, c: 10 });
  const one = json(await admin(balancer, 'GET', `/backends/${slotOf(b!.origin)}`), 200, 'GET /backends/{id}');
  assert.equal(one.origin, b!.origin);
  assert.equal(one.started, 10, 'the counters come from shared memory');
  assert.deepEqual((one.responses as Record<string, number>)['2xx'], 10);
  const byOrigin = json(await admin(balancer, 'GET', `/backends/${encoded(b!.origin)}`), 200, 'GET by origin');
  assert.deepEqual([byOrigin.id, byOrigin.origin, byOrigin.started], [one.id, one.origin, one.started], 'the origin names the same backend as the id');

  // Drain b: no new request reaches it, none fails.
  const drained = json(await admin(balancer, 'POST', `/backends/${slotOf(b!.origin)}/drain`), 200, 'drain');
  assert.equal(drained.state, 'draining');
  assert.equal(drained.up, false);
  // Draining again changes nothing; the admin line says so.
  assert.equal(json(await admin(balancer, 'POST', `/backends/${slotOf(b!.origin)}/drain`), 200, 'drain again').state, 'draining');
  const reachedB = b!.proxied.length;
  assert.deepEqual(await traffic(client, 60, 'while b drains'), { a: 30, c: 30 });
  assert.equal(b!.proxied.length, reachedB, 'the drained backend received no new request');

  // Enable it (by origin this time): its share comes back.
  assert.equal(json(await admin(balancer, 'POST', `/backends/${encoded(b!.origin)}/enable`), 200, 'enable').state, 'active');
  assert.deepEqual(await traffic(client, 60, 'after enable'), { a: 20, b: 20, c: 20 });

  // Disable c, then weight 3 for a against b's 1: exactly 3 to 1 over 4 x 15 requests.
  assert.equal(json(await admin(balancer, 'POST', `/backends/${slotOf(c!.origin)}/disable`), 200, 'disable').state, 'disabled');
  const weighted = json(await admin(balancer, 'PUT', `/backends/${slotOf(a!.origin)}/weight`, '{"weight": 3}', { 'content-type': 'application/json' }), 200, 'weight');
  assert.equal(weighted.weight, 3);
  assert.equal(weighted.effectiveWeight, 3);
  assert.deepEqual(await traffic(client, 60, 'at weights 3 and 1'), { a: 45, b: 15 });
  // A bare number works too.
  assert.equal(json(await admin(balancer, 'PUT', `/backends/${slotOf(c!.origin)}/weight`, '2'), 200, 'bare weight').weight, 2);
  assert.equal(json(await admin(balancer, 'POST', `/backends/${slotOf(c!.origin)}/enable`), 200, 'enable c').state, 'active');

  // Add d with weight 2: total 3 + 1 + 2 + 2 = 8.
  const added = await admin(balancer, 'POST', '/backends', JSON.stringify({ origin: d!.origin, weight: 2 }), { 'content-type': 'application/json' });
  const addedBody = json(added, 201, 'add');
  assert.equal(added.headers.location, `/backends/${slotOf(d!.origin)}`);
  assert.deepEqual([addedBody.id, addedBody.origin, addedBody.state, addedBody.weight], [slotOf(d!.origin), d!.origin, 'active', 2]);
  assert.deepEqual(await traffic(client, 80, 'after adding d'), { a: 30, b: 10, c: 20, d: 20 });

  // Remove c: it leaves /backends and gets nothing more.
  const slotC = slotOf(c!.origin);
  const removed = json(await admin(balancer, 'DELETE', `/backends/${slotC}`), 200, 'remove');
  assert.deepEqual(removed, { id: slotC, origin: c!.origin, removed: true, stillRunning: 0 });
  const left = json<Array<{ origin: string }>>(await admin(balancer, 'GET', '/backends'), 200, 'GET /backends after remove');
  assert.deepEqual(left.map((x) => x.origin).sort(), [a!.origin, b!.origin, d!.origin].sort());
  assertRefused(await admin(balancer, 'GET', `/backends/${slotC}`), 404, /no backend "\d+"/, 'GET a removed backend');
  const reachedC = c!.proxied.length;
  assert.deepEqual(await traffic(client, 60, 'after removing c'), { a: 30, b: 10, d: 20 });
  assert.equal(c!.proxied.length, reachedC, 'the removed backend received no new request');

  const from = '(from 127.0.0.1)';
  const adminLines = balancer.logged.filter((line) => line.startsWith('admin: '));
  assert.deepEqual(adminLines, [
    `admin: drain backend ${b!.origin} ${from}`,
    `admin: drain backend ${b!.origin} ${from}; it was already draining`,
    `admin: enable backend ${b!.origin} ${from}`,
    `admin: disable backend ${c!.origin} ${from}`,
    `admin: set weight of backend ${a!.origin} to 3 ${from}`,
    `admin: set weight of backend ${c!.origin} to 2 ${from}`,
    `admin: enable backend ${c!.origin} ${from}`,
    `admin: add backend ${d!.origin} with weight 2 ${from}`,
    `admin: remove backend ${c!.origin} ${from}`,
  ]);
  // The table's own state-change lines are there too, each before the admin line it answers.
  for (const line of [`backend ${b!.origin}: draining: no new requests, those in flight finish`, `backend ${a!.origin}: weight 1 -> 3`, `backend ${c!.origin}: removed`]) {
    assert.ok(balancer.logged.includes(line), `logged ${line}\n${balancer.logged.join('\n')}`);
  }
  assert.ok(balancer.logged.indexOf(`backend ${b!.origin}: draining: no new requests, those in flight finish`) < balancer.logged.indexOf(adminLines[0]!));
});

test('DELETE waits for the requests in flight (up to --shutdown-timeout); ?wait=0 answers 202 while the drain runs', async (t) => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--shutdown-timeout', '300ms', '--backend', a!.origin, '--backend', b!.origin, '--backend', c!.origin]);
  const client = createClient(t, balancer.url);

  // b holds a request: a waiting DELETE gives up at the 300ms deadline and says so.
  b!.hold();
  const heldAtB = await sendUntil(client, (i) => `/held-b/${i}`, () => b!.held === 1, 'b holding a request');
  const slotB = balancer.state.slotOf(b!.origin);
  const removedB = json(await admin(balancer, 'DELETE', `/backends/${slotB}`), 200, 'remove b');
  assert.deepEqual(removedB, { id: slotB, origin: b!.origin, removed: true, stillRunning: 1 });
  assert.equal(balancer.state.slotOf(b!.origin), -1);
  assert.ok(balancer.logged.includes(`backend ${b!.origin}: removed with 1 request still running`), balancer.logged.join('\n'));
  b!.release();
  assert.ok((await Promise.all(heldAtB)).every((x) => x.status === 200), 'the request still running at removal finished with 200');

  // c holds a request: ?wait=0 answers 202 (draining) at once; the removal completes once c lets go.
  c!.hold();
  const heldAtC = await sendUntil(client, (i) => `/held-c/${i}`, () => c!.held === 1, 'c holding a request');
  const accepted = json(await admin(balancer, 'DELETE', `/backends/${encoded(c!.origin)}?wait=0`), 202, 'remove c, wait=0');
  assert.deepEqual([accepted.origin, accepted.state, accepted.inFlight], [c!.origin, 'draining', 1]);
  assert.equal(json(await admin(balancer, 'GET', `/backends/${encoded(c!.origin)}`), 200, 'c while draining').state, 'draining');
  c!.release();
  await waitFor(async () => (await admin(balancer, 'GET', `/backends/${encoded(c!.origin)}`)).status === 404, 'c gone from /backends', { timeoutMs: 10_000, intervalMs: 20 });
  assert.ok((await Promise.all(heldAtC)).every((x) => x.status === 200));
  assert.ok(balancer.logged.includes(`backend ${c!.origin}: removed`), balancer.logged.join('\n'));
  // With nothing in flight, ?wait=0 has nothing to wait for: 200, removed.
  const slotA = balancer.state.slotOf(a!.origin);
  assert.deepEqual(json(await admin(balancer, 'DELETE', `/backends/${slotA}?wait=0`), 200, 'remove idle a, wait=0'), { id: slotA, origin: a!.origin, removed: true, stillRunning: 0 });
  assertRefused(await admin(balancer, 'DELETE', `/backends/${slotA}`), 404, /no backend/, 'the removed a');
});

test('bad input is refused with 400, 404, 405, 409, 413 or 507 and one line, and changes nothing', async (t) => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--admin-port', '0', '--max-backends', '2', '--backend', a!.origin, '--backend', b!.origin]);
  const before = json(await admin(balancer, 'GET', '/backends'), 200, 'GET /backends');
  const slotA = balancer.state.slotOf(a!.origin);
  const weightPath = `/backends/${slotA}/weight`;
  const cases: Array<[method: string, path: string, body: string | undefined, status: number, why: RegExp]> = [
    ['GET', '/backends/7', undefined, 404, /no backend "7"; name one by the id GET \/backends lists/],
    ['POST', '/backends/7/drain', undefined, 404, /no backend "7"/],
    ['GET', `/backends/${encoded('http://127.0.0.1:1')}`, undefined, 404, /no backend "http:\/\/127\.0\.0\.1:1"/],
    ['GET', '/backends/not-a-backend', undefined, 404, /no backend "not-a-backend"/],
    ['POST', `/backends/${slotA}/explode`, undefined, 404, /actions are drain, disable, enable, weight/],
    ['GET', `/backends/${slotA}/drain/now`, undefined, 404, /no admin route/],
    ['POST', '/backends/%E0%A4%A/drain', undefined, 400, /not valid percent-encoding/],
    ['GET', `/backends/${slotA}/drain`, undefined, 405, /GET \/backends\/\d+\/drain is not allowed; use POST/],
    ['PUT', '/backends', undefined, 405, /use GET or POST/],
    ['POST', `/backends/${slotA}`, undefined, 405, /use GET or DELETE/],
    ['POST', weightPath, '3', 405, /use PUT/],
    ['PUT', weightPath, undefined, 400, /needs a body: expected \{"weight": N\} or a bare N/],
    ['PUT', weightPath, '0', 400, /weight 0 is not allowed: expected a whole number from 1 to 1000/],
    ['PUT', weightPath, '1001', 400, /weight 1001 is not allowed/],
    ['PUT', weightPath, '2.5', 400, /weight 2\.5 is not allowed/],
    ['PUT', weightPath, '{"weight": "3"}', 400, /weight "3" is not allowed/],
    ['PUT', weightPath, '{"weight": 3, "now": true}', 400, /the body has fields \["weight","now"\]/],
    ['PUT', weightPath, 'heavy', 400, /weight "heavy" is not allowed/],
    ['PUT', weightPath, '{"weight": 3', 400, /not valid JSON/],
    ['DELETE', `/backends/${slotA}?wait=maybe`, undefined, 400, /wait=maybe is not allowed/],
    ['POST', '/backends', undefined, 400, /POST \/backends needs a body/],
    ['POST', '/backends', '{"weight": 2}', 400, /the field "origin" is missing/],
    ['POST', '/backends', `{"origin": "${c!.origin}", "wieght": 2}`, 400, /unknown field "wieght"/],
    ['POST', '/backends', '{"origin": "ftp://127.0.0.1:9000"}', 400, /backend "ftp:\/\/127\.0\.0\.1:9000" is not allowed: expected the http or https scheme/],
    ['POST', '/backends', '{"origin": "http://127.0.0.1:9000/api"}', 400, /no path, query or fragment/],
    ['POST', '/backends', `{"origin": "${c!.origin}", "weight": 0}`, 400, /weight 0 is not allowed/],
    ['POST', '/backends', 'http://127.0.0.1:9000,weight=x', 400, /expected URL or URL,weight=N/],
    ['POST', '/backends', '[1, 2]', 400, /the body is not a backend/],
    ['POST', '/backends', `{"origin": "${a!.origin}"}`, 409, /already in the table/],
    ['POST', '/backends', `{"origin": "${c!.origin}"}`, 507, /no free slot for backend .*--max-backends/],
  ];
  for (const [method, path, body, status, why] of cases) {
    assertRefused(await admin(balancer, method, path, body), status, why, `${method} ${path} ${body ?? ''}`);
  }
  const allow = await admin(balancer, 'DELETE', '/backends');
  assert.equal(allow.headers.allow, 'GET, POST');

  // Too large: refused by content-length before reading, and while reading a chunked body.
  const big = JSON.stringify({ weight: 3, padding: 'x'.repeat(20_000) });
  assertRefused(await admin(balancer, 'PUT', weightPath, big), 413, /larger than 16384 bytes/, 'a large body with content-length');
  const chunked = await admin(balancer, 'POST', '/backends', Readable.from([Buffer.alloc(10_000, 32), Buffer.alloc(10_000, 32)]));
  assertRefused(chunked, 413, /larger than 16384 bytes/, 'a large chunked body');
  assert.equal(chunked.headers.connection, 'close');

  assert.deepEqual(json(await admin(balancer, 'GET', '/backends'), 200, 'GET /backends after the refusals'), before, 'no refused request changed anything');
  assert.deepEqual(balancer.logged.filter((line) => line.startsWith('admin: ')), [], 'a refused request is no admin action');
  // The text form of POST /backends is accepted once there is room.
  json(await admin(balancer, 'DELETE', `/backends/${balancer.state.slotOf(b!.origin)}`), 200, 'remove b');
  const added = json(await admin(balancer, 'POST', '/backends', `${c!.origin},weight=4`), 201, 'add c as text');
  assert.deepEqual([added.origin, added.weight], [c!.origin, 4]);
});
