/**
 * @module Request smuggling at a listener: every request whose body framing is ambiguous
 * (Content-Length with Transfer-Encoding, conflicting lengths, an obfuscated
 * Transfer-Encoding, a malformed chunk) is refused with 400 and a closed connection,
 * never parsed leniently; and no backend ever sees the request hidden behind it.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  assertRefusal,
  assertStillServing,
  openRawClient,
  parseRawResponse,
  rawExchange,
  startTestBalancer,
  startBackend,
  statusOf,
} from '../helpers.ts';

const TEST_OPTIONS = { timeout: 20_000 };

/** The request each attack tries to slip past the balancer to a backend. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n';
const POST = 'POST /attack HTTP/1.1\r\nHost: localhost\r\n';

/** Request text as the exact bytes to send (latin1: one char, one byte). */
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** A chunked body made of one chunk holding `data`, then the last chunk. */
const oneChunk = (data: string): string => `${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`;

/** A balancer in front of one upstream that answers `ok <url> <body bytes>` and counts
 * its TCP connections and the requests whose body it received to the end. */
async function startFixture(t: TestContext) {
  const completed: string[] = [];
  const upstream = await startBackend(t, (req, res) => {
    let length = 0;
    req.on('data', (chunk: Buffer) => (length += chunk.length));
    req.on('end', () => {
      completed.push(req.url ?? '');
      res.end(`ok ${req.url} ${length}`);
    });
  });
  let connections = 0;
  upstream.server.on('connection', () => connections++);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', upstream.origin, '--max-header-size', '8k', '--max-url-length', '2k']);
  return { balancer, upstream, completed, upstreamConnections: () => connections };
}

const urlsSeen = (upstream: { received: ReadonlyArray<{ url: string }> }): string[] => upstream.received.map(({ url }) => url);

/**
 * Sends `attack` on a fresh connection; asserts the refusal, that the balancer still
 * serves, and that no backend ever saw the smuggled request.
 *
 * `refusedAt: 'head'`: the defect is in the request head, so the balancer can and must
 * refuse before it picks a backend: the upstream is not even connected to.
 * `refusedAt: 'body'`: the defect is in a streamed body, found after the head may have
 * been forwarded: the upstream may see the start of the request, but never all of it.
 */
async function assertAttackRefused(t: TestContext, attack: Buffer, status: number, refusedAt: 'head' | 'body'): Promise<void> {
  const { balancer, upstream, completed, upstreamConnections } = await startFixture(t);
  assertRefusal(await rawExchange(balancer.port, attack, { timeoutMs: 3_000 }), status);
  if (refusedAt === 'head') {
    assert.deepEqual(urlsSeen(upstream), [], 'the upstream received part of the attack');
    assert.equal(upstreamConnections(), 0, 'the balancer opened a connection to the upstream for a request it refused');
  }
  await assertStillServing(balancer, '/after-attack');
  const afterAttack = ['/after-attack', '/after-attack', '/after-attack', '/after-attack'];
  assert.deepEqual(completed, afterAttack, 'the upstream received a whole request besides the follow-up requests');
  assert.deepEqual(
    urlsSeen(upstream).filter((url) => url !== '/attack'),
    afterAttack,
    'the upstream saw the smuggled request',
  );
}

interface Attack {
  readonly name: string;
  readonly request: string;
}

/** CL.TE: a Content-Length front end forwards the whole body; a chunked back end stops at
 * the last chunk and reads SMUGGLED as its next request. */
const clTeBody = `0\r\n\r\n${SMUGGLED}`;
/** TE.CL: a chunked front end forwards the whole chunk; a Content-Length back end reads
 * 4 bytes and then SMUGGLED as its next request. */
const teClBody = oneChunk(SMUGGLED);

const FRAMING_ATTACKS: readonly Attack[] = [
  { name: 'CL.TE (Content-Length, then Transfer-Encoding: chunked)', request: `${POST}Content-Length: ${clTeBody.length}\r\nTransfer-Encoding: chunked\r\n\r\n${clTeBody}` },
  { name: 'CL.TE (Transfer-Encoding: chunked, then Content-Length)', request: `${POST}Transfer-Encoding: chunked\r\nContent-Length: ${clTeBody.length}\r\n\r\n${clTeBody}` },
  { name: 'TE.CL (Transfer-Encoding: chunked, then Content-Length: 4)', request: `${POST}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${teClBody}` },
  { name: 'TE.CL (Content-Length: 4, then Transfer-Encoding: chunked)', request: `${POST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${teClBody}` },
  { name: 'Content-Length: 0 with Transfer-Encoding: chunked', request: `${POST}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n${clTeBody}` },
  {
    name: 'two conflicting Content-Length headers',
    request: `${POST}Content-Length: 5\r\nContent-Length: ${5 + SMUGGLED.length}\r\n\r\nhello${SMUGGLED}`,
  },
  { name: 'a Content-Length list of two values ("5, N")', request: `${POST}Content-Length: 5, ${5 + SMUGGLED.length}\r\n\r\nhello${SMUGGLED}` },
  { name: 'a signed Content-Length (+5)', request: `${POST}Content-Length: +5\r\n\r\nhello${SMUGGLED}` },
  { name: 'a hexadecimal Content-Length (0x5)', request: `${POST}Content-Length: 0x5\r\n\r\nhello${SMUGGLED}` },
  { name: 'a Content-Length beyond 2^64', request: `${POST}Content-Length: 99999999999999999999999\r\n\r\nhello${SMUGGLED}` },
];

/** Obfuscated Transfer-Encoding headers, without Content-Length: a front end that does not
 * recognise the header reads no body and takes `0\r\n\r\n` plus SMUGGLED as what follows. */
const OBFUSCATED_TE: readonly Attack[] = [
  { name: 'Transfer-Encoding: xchunked', request: `${POST}Transfer-Encoding: xchunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding: "chunked" (quoted)', request: `${POST}Transfer-Encoding: "chunked"\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding : chunked (space before the colon)', request: `${POST}Transfer-Encoding : chunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding<TAB>: chunked (tab before the colon)', request: `${POST}Transfer-Encoding\t: chunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding: chunked, identity (chunked not last)', request: `${POST}Transfer-Encoding: chunked, identity\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding: chunked, chunked', request: `${POST}Transfer-Encoding: chunked, chunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding: <VT>chunked (vertical tab)', request: `${POST}Transfer-Encoding: \x0bchunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding: chunked<NUL>', request: `${POST}Transfer-Encoding: chunked\0\r\n\r\n${clTeBody}` },
  { name: 'a leading space before Transfer-Encoding (a folded first header)', request: `${POST} Transfer-Encoding: chunked\r\n\r\n${clTeBody}` },
  { name: 'Transfer-Encoding folded onto a continuation line', request: `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n${clTeBody}` },
  {
    name: 'Transfer-Encoding twice (chunked, then <TAB>chunked)',
    request: `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding:\tchunked\r\n\r\n${clTeBody}`,
  },
  {
    name: 'Transfer-Encoding twice with a Content-Length',
    request: `${POST}Content-Length: ${clTeBody.length}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\tchunked\r\n\r\n${clTeBody}`,
  },
  { name: 'Transfer-Encoding: xchunked with a Content-Length', request: `${POST}Content-Length: ${clTeBody.length}\r\nTransfer-Encoding: xchunked\r\n\r\n${clTeBody}` },
];

/** Malformed chunked bodies: a front end that reads a chunk size differently from the back
 * end disagrees on where the body ends. */
const BAD_CHUNKS: readonly Attack[] = [
  { name: 'a chunk size with a non-hex character (5g)', request: `${POST}Transfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a chunk size that overflows 64 bits', request: `${POST}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a negative chunk size (-5)', request: `${POST}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a 0x-prefixed chunk size', request: `${POST}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a bare LF after a chunk size', request: `${POST}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a bare CR in a chunk extension', request: `${POST}Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'chunk data longer than its size', request: `${POST}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n${SMUGGLED}` },
];

for (const [group, attacks, refusedAt] of [
  ['framing', FRAMING_ATTACKS, 'head'],
  ['obfuscated Transfer-Encoding', OBFUSCATED_TE, 'head'],
  ['bad chunk', BAD_CHUNKS, 'body'],
] as const) {
  const contract = refusedAt === 'head' ? 'no backend is contacted' : 'no backend sees a whole request or /smuggled';
  for (const { name, request } of attacks) {
    test(`${group}: ${name} gets 400 and a closed connection; ${contract}`, TEST_OPTIONS, (t) =>
      assertAttackRefused(t, bytes(request), 400, refusedAt),
    );
  }
}

for (const { name, request } of FRAMING_ATTACKS.slice(0, 3)) {
  test(`reused connection: ${name} after a good request gets 400 and a close; no backend sees /smuggled`, TEST_OPTIONS, async (t) => {
    const { balancer, upstream } = await startFixture(t);
    const client = await openRawClient(t, balancer.port);
    client.write(bytes('GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    const first = await client.readUntil((text) => text.endsWith('ok /first 0'), 'the response to /first', 3_000);
    assert.equal(statusOf(first), 200);

    client.write(bytes(request));
    const all = await client.untilClosed(3_000);
    assertRefusal({ response: all.slice(first.length), timedOut: false }, 400);
    await assertStillServing(balancer, '/after-attack');
    assert.deepEqual(urlsSeen(upstream), ['/first', '/after-attack', '/after-attack', '/after-attack', '/after-attack']);
  });
}

/**
 * Requests refused by the guard answer `connection: close`; RFC 9112 section 9.6 says the
 * server then MUST NOT process any further request received on that connection. A
 * request pipelined right behind the refused one must therefore never reach a backend.
 */
const PIPELINED_BEHIND: readonly { name: string; refused: string; status: number }[] = [
  { name: 'TRACE', refused: 'TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n', status: 405 },
  { name: 'a target over --max-url-length', refused: `GET /${'a'.repeat(3000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, status: 414 },
  { name: 'absolute-form naming another host', refused: 'GET http://other.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n', status: 421 },
  { name: 'OPTIONS *', refused: 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n', status: 400 },
  { name: 'CONNECT', refused: 'CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n', status: 405 },
  { name: 'an HTTP/0.9 request', refused: 'GET /nine\r\n\r\n', status: 400 },
];

for (const { name, refused, status } of PIPELINED_BEHIND) {
  test(`pipelining: a request behind ${name} (${status}, connection: close) never reaches a backend`, TEST_OPTIONS, (t) =>
    assertAttackRefused(t, bytes(refused + SMUGGLED), status, 'head'),
  );
}

test('pipelining: a request behind a refusal does not reach a backend over an idle pooled connection either', TEST_OPTIONS, async (t) => {
  const { balancer, upstream, upstreamConnections } = await startFixture(t);
  // Fresh connections land on both listener threads; each leaves an idle upstream
  // connection in its pool, over which a dispatched request is written at once.
  await assertStillServing(balancer, '/warm', 8);
  const warmConnections = upstreamConnections();

  const attack = bytes(`TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n${SMUGGLED}`);
  for (let i = 0; i < 4; i++) assertRefusal(await rawExchange(balancer.port, attack, { timeoutMs: 3_000 }), 405);
  const attackConnections = upstreamConnections();
  await assertStillServing(balancer, '/after-attack');
  assert.deepEqual(
    urlsSeen(upstream).filter((url) => url !== '/warm' && url !== '/after-attack'),
    [],
    'the upstream saw a request pipelined behind a refusal',
  );
  assert.equal(attackConnections, warmConnections, 'the balancer dispatched a request pipelined behind a refusal');
});

test('control: Transfer-Encoding:<TAB>chunked is valid (OWS) and read as chunked, the body reaching the upstream whole', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const exchange = await rawExchange(
    balancer.port,
    bytes(`${POST}Transfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n${oneChunk('hello')}`),
    { timeoutMs: 3_000 },
  );
  assert.equal(statusOf(exchange.response), 200, exchange.response);
  assert.equal(parseRawResponse(exchange.response).body, 'ok /attack 5');
  assert.deepEqual(urlsSeen(upstream), ['/attack']);
});
