/**
 * @module Hostile input at a listener: malformed request heads, oversized heads and
 * targets, and requests that would use the balancer as an open proxy. Each must be
 * refused with its status and a one-line body, on a closed connection, before any
 * backend is contacted, and the balancer must keep serving afterwards.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  assertRefusal,
  assertStillServing,
  parseRawResponse,
  rawExchange,
  startTestBalancer,
  startBackend,
  statusOf,
} from '../helpers.ts';

const MAX_URL = 2048;
const LIMITS = ['--max-header-size', '8k', '--max-url-length', '2k', '--client-header-timeout', '1s'];
const TEST_OPTIONS = { timeout: 20_000 };

/** Request text as the exact bytes to send (latin1: one char, one byte). */
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** A balancer in front of one upstream that counts the TCP connections it accepts. */
async function startFixture(t: TestContext) {
  const upstream = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.url}`));
  });
  let connections = 0;
  upstream.server.on('connection', () => connections++);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', upstream.origin, ...LIMITS]);
  return { balancer, upstream, upstreamConnections: () => connections };
}

/**
 * Sends `request` on a fresh connection and asserts the whole refusal contract: the
 * status, a one-line body, the connection closed, no backend contacted, the balancer
 * still serving, and in the end the upstream saw only the follow-up requests.
 */
async function assertRefused(t: TestContext, request: Buffer, status: number): Promise<void> {
  const { balancer, upstream, upstreamConnections } = await startFixture(t);
  assertRefusal(await rawExchange(balancer.port, request, { timeoutMs: 3_000 }), status);
  assert.deepEqual(
    upstream.received.map(({ method, url }) => `${method} ${url}`),
    [],
    'the upstream received the refused request',
  );
  assert.equal(upstreamConnections(), 0, 'the balancer opened a connection to the upstream for a refused request');
  await assertStillServing(balancer, '/after-attack');
  assert.deepEqual(
    upstream.received.map(({ url }) => url),
    ['/after-attack', '/after-attack', '/after-attack', '/after-attack'],
    'the upstream saw something besides the follow-up requests',
  );
}

/** A TLS 1.2 ClientHello's first bytes: what a client speaking HTTPS to this port sends. */
const TLS_CLIENT_HELLO = Buffer.from('16030100a5010000a10303' + 'ab'.repeat(32) + '000004c02fc030010000740000', 'hex');

/** 1 KiB of fixed pseudo-random bytes (xorshift32), the same on every run. */
function noise(length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Case {
  readonly name: string;
  readonly request: Buffer;
  readonly status: number;
}

const MALFORMED: readonly Case[] = [
  { name: 'a request line without target and version', request: bytes('GET\r\n\r\n'), status: 400 },
  { name: 'an unknown HTTP version (HTTP/9.9)', request: bytes('GET / HTTP/9.9\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'HTTP/2.0 in an HTTP/1 request line', request: bytes('GET / HTTP/2.0\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'a lower-case HTTP version (http/1.1)', request: bytes('GET / http/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'a lower-case method', request: bytes('get / HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'a method with a non-token character', request: bytes('G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'bare LF line endings', request: bytes('GET / HTTP/1.1\nHost: localhost\n\n'), status: 400 },

  { name: 'HTTP/0.9: a request line without version, then a blank line', request: bytes('GET /\r\n\r\n'), status: 400 },
  { name: 'HTTP/0.9: a request line without version, then headers', request: bytes('GET /nine\r\nHost: localhost\r\n\r\n'), status: 400 },

  { name: 'a space in a header name', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nBad Name: v\r\n\r\n'), status: 400 },
  { name: 'separators in a header name', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nBad(): v\r\n\r\n'), status: 400 },
  { name: 'a non-ASCII byte in a header name', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-\xc4: v\r\n\r\n'), status: 400 },
  { name: 'an empty header name', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\n: v\r\n\r\n'), status: 400 },
  { name: 'a header line without a colon', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nNoColon\r\n\r\n'), status: 400 },
  { name: 'a bare CR in a header value', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n'), status: 400 },
  { name: 'a NUL in a header value', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n'), status: 400 },
  { name: 'a control character (0x01) in a header value', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\x01b\r\n\r\n'), status: 400 },
  { name: 'DEL (0x7f) in a header value', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\x7fb\r\n\r\n'), status: 400 },

  { name: 'header injection: a bare LF in a header value', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\nX-Injected: 1\r\n\r\n'), status: 400 },
  { name: 'header injection: an obs-fold continuation line', request: bytes('GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n X-Injected: 1\r\n\r\n'), status: 400 },
  { name: 'target injection: a CR in the request target', request: bytes('GET /a\rX-Injected: 1 HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'target injection: a LF in the request target', request: bytes('GET /a\nX-Injected: 1 HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'target injection: a CRLF in the request target', request: bytes('GET /a\r\nX-Injected: 1 HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'a NUL in the request target', request: bytes('GET /a\0b HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
  { name: 'a tab in the request target', request: bytes('GET /a\tb HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },

  { name: 'garbage: a TLS ClientHello', request: TLS_CLIENT_HELLO, status: 400 },
  { name: 'garbage: 1 KiB of random binary', request: noise(1024), status: 400 },
  { name: 'garbage: an HTTP/2 connection preface', request: bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), status: 400 },

  // RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host,
  // with more than one Host, or with a Host that is not a valid host[:port].
  { name: 'HTTP/1.1 without Host', request: bytes('GET / HTTP/1.1\r\n\r\n'), status: 400 },
  { name: 'two Host headers', request: bytes('GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n'), status: 400 },
  { name: 'a Host value with a space', request: bytes('GET / HTTP/1.1\r\nHost: a b\r\n\r\n'), status: 400 },
  { name: 'a Host value with a path', request: bytes('GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n'), status: 400 },
];

for (const { name, request, status } of MALFORMED) {
  test(`malformed: ${name} gets ${status} and a closed connection; no backend sees it`, TEST_OPTIONS, (t) =>
    assertRefused(t, request, status),
  );
}

test('malformed: a bare HTTP/0.9 request (request line only, no blank line) is cut off at the head timeout with 408; no backend sees it', TEST_OPTIONS, async (t) => {
  // Node's parser cannot tell `GET /\r\n` from the first line of a slow HTTP/1.x head,
  // so it waits for the rest; switchyard answers when --client-header-timeout (1 s in
  // this fixture) expires. Anything with a complete head is refused with 400 at once
  // (see the HTTP/0.9-with-headers cases).
  const { balancer, upstream, upstreamConnections } = await startFixture(t);
  const exchange = await rawExchange(balancer.port, bytes('GET /\r\n'), { timeoutMs: 10_000 });
  assertRefusal(exchange, 408);
  assert.match(exchange.response, /408 Request Timeout: request head did not arrive in time\n$/);
  assert.equal(upstream.received.length, 0);
  assert.equal(upstreamConnections(), 0);
  await assertStillServing(balancer, '/after-attack');
});

test('malformed: a percent-encoded CRLF in the target is forwarded still encoded, never as a header', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const exchange = await rawExchange(
    balancer.port,
    bytes('GET /a%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    { timeoutMs: 3_000 },
  );
  assert.equal(statusOf(exchange.response), 200, exchange.response);
  assert.equal(upstream.received.length, 1);
  assert.equal(upstream.received[0]?.url, '/a%0d%0aX-Injected:%201');
  assert.equal(upstream.received[0]?.headers['x-injected'], undefined);
});

test('limits: a 20 KB header over --max-header-size 8k gets 431; no backend sees it', TEST_OPTIONS, (t) =>
  assertRefused(t, bytes(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`), 431),
);

test('limits: 300 small headers totalling 12 KB (over 8k, under the 16 KB Node default) get 431; no backend sees them', TEST_OPTIONS, (t) => {
  const headers = Array.from({ length: 300 }, (_, i) => `X-H${i}: ${'v'.repeat(30)}\r\n`).join('');
  return assertRefused(t, bytes(`GET / HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`), 431);
});

test('limits: a 3000-byte target over --max-url-length 2k gets 414; no backend sees it', TEST_OPTIONS, (t) =>
  assertRefused(t, bytes(`GET /${'a'.repeat(2999)} HTTP/1.1\r\nHost: localhost\r\n\r\n`), 414),
);

test('limits: a target one byte over --max-url-length gets 414; one of exactly that length is forwarded', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const over = await rawExchange(balancer.port, bytes(`GET /${'b'.repeat(MAX_URL)} HTTP/1.1\r\nHost: localhost\r\n\r\n`), { timeoutMs: 3_000 });
  assertRefusal(over, 414);
  assert.equal(upstream.received.length, 0);
  const exact = `/${'a'.repeat(MAX_URL - 1)}`;
  const atLimit = await rawExchange(balancer.port, bytes(`GET ${exact} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`), { timeoutMs: 3_000 });
  assert.equal(statusOf(atLimit.response), 200, atLimit.response.slice(0, 300));
  assert.deepEqual(upstream.received.map(({ url }) => url), [exact]);
});

const PROXY_REFUSALS: readonly Case[] = [
  { name: 'CONNECT other.example:443', request: bytes('CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n'), status: 405 },
  { name: 'absolute-form naming a host other than Host', request: bytes('GET http://other.example/p HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 421 },
  { name: 'absolute-form https:// (even naming Host)', request: bytes('GET https://other.example/p HTTP/1.1\r\nHost: other.example\r\n\r\n'), status: 421 },
  { name: 'absolute-form with userinfo before another host', request: bytes('GET http://localhost@other.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 421 },
  { name: 'TRACE', request: bytes('TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 405 },
  { name: 'OPTIONS * (asterisk-form)', request: bytes('OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n'), status: 400 },
];

for (const { name, request, status } of PROXY_REFUSALS) {
  test(`no open proxy: ${name} gets ${status} and a closed connection; no backend sees it`, TEST_OPTIONS, (t) =>
    assertRefused(t, request, status),
  );
}

test('no open proxy: absolute-form naming the Host itself is forwarded as its path', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const exchange = await rawExchange(
    balancer.port,
    bytes('GET http://other.example/p?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n'),
    { timeoutMs: 3_000 },
  );
  assert.equal(statusOf(exchange.response), 200, exchange.response);
  assert.equal(parseRawResponse(exchange.response).body, 'ok /p?q=1');
  assert.equal(upstream.received.length, 1);
  assert.equal(upstream.received[0]?.url, '/p?q=1');
  assert.equal(upstream.received[0]?.headers.host, 'other.example');
});
