/**
 * @module RequestParser (src/http1/request-parser.ts) driven directly: llhttp in request
 * mode, strict. It reports a head, body chunks and the end, pauses after each request
 * (the rest of the input is the next request's, from `stoppedAt`), limits the head, and
 * refuses what a lenient parser would let through.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LLHTTP } from '../../src/http1/llhttp.ts';
import { RequestParser, type RequestHead } from '../../src/http1/request-parser.ts';

function parser(maxHeaderBytes = 8192) {
  const heads: RequestHead[] = [];
  const bodies: string[] = [];
  let completed = 0;
  const p = new RequestParser(
    {
      onHead: (head) => heads.push(head),
      onBody: (chunk) => bodies.push(chunk.toString('latin1')),
      onComplete: () => completed++,
    },
    maxHeaderBytes,
  );
  return { p, heads, bodies, completed: () => completed };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

test('pipelined requests: the parser pauses after each one, and the rest starts at stoppedAt', () => {
  const { p, heads, completed } = parser();
  const input = bytes('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(p.execute(input), LLHTTP.PAUSED);
  assert.deepEqual(heads.map((h) => h.url), ['/a']);
  assert.equal(completed(), 1);
  const rest = input.subarray(p.stoppedAt);
  assert.equal(rest.toString('latin1'), 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  p.resume();
  assert.equal(p.execute(rest), LLHTTP.PAUSED);
  assert.deepEqual(heads.map((h) => h.url), ['/a', '/b']);
  p.destroy();
});

test('a head reports method, target, version, raw headers and keep-alive; the body follows in chunks', () => {
  const { p, heads, bodies, completed } = parser();
  assert.equal(p.execute(bytes('POST /up?q=1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhe')), LLHTTP.OK);
  assert.deepEqual(heads[0], {
    method: 'POST',
    url: '/up?q=1',
    versionMajor: 1,
    versionMinor: 0,
    raw: ['Host', 'x', 'Connection', 'keep-alive', 'Content-Length', '5'],
    keepAlive: true,
    upgrade: false,
  });
  assert.equal(p.execute(bytes('llo')), LLHTTP.PAUSED);
  assert.deepEqual(bodies, ['he', 'llo']);
  assert.equal(completed(), 1);
  p.destroy();
});

test('HTTP/0.9 is reported as version 0.9 (the guard refuses it); a request line alone waits for more', () => {
  const { p, heads } = parser();
  assert.equal(p.execute(bytes('GET /nine\r\nHost: x\r\n\r\n')), LLHTTP.PAUSED);
  assert.equal(heads[0]?.versionMajor, 0);
  p.destroy();
  const alone = parser();
  assert.equal(alone.p.execute(bytes('GET /\r\n')), LLHTTP.OK);
  assert.equal(alone.heads.length, 0);
  alone.p.destroy();
});

test('a head over the limit is HPE_HEADER_OVERFLOW, counted across chunks', () => {
  const { p } = parser(64);
  assert.equal(p.execute(bytes('GET / HTTP/1.1\r\nX-A: ' + 'a'.repeat(30))), LLHTTP.OK);
  const errno = p.execute(bytes('a'.repeat(40)));
  assert.notEqual(errno, LLHTTP.OK);
  assert.equal(p.errorCode(errno), 'HPE_HEADER_OVERFLOW');
  p.destroy();
});

const REFUSED: ReadonlyArray<{ name: string; text: string; code: string }> = [
  { name: 'obs-fold', text: 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', code: 'HPE_INVALID_HEADER_TOKEN' },
  { name: 'a bare LF ending the request line', text: 'GET / HTTP/1.1\nHost: x\r\n\r\n', code: 'HPE_INVALID_VERSION' },
  { name: 'a bare CR in a value', text: 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', code: 'HPE_LF_EXPECTED' },
  { name: 'Content-Length with Transfer-Encoding', text: 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', code: 'HPE_INVALID_TRANSFER_ENCODING' },
  { name: 'two Content-Lengths', text: 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', code: 'HPE_UNEXPECTED_CONTENT_LENGTH' },
  { name: 'chunked not last', text: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n', code: 'HPE_INVALID_TRANSFER_ENCODING' },
  { name: 'a bad chunk size', text: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n', code: 'HPE_INVALID_CHUNK_SIZE' },
  { name: 'a lower-case method', text: 'get / HTTP/1.1\r\nHost: x\r\n\r\n', code: 'HPE_INVALID_METHOD' },
];

for (const { name, text, code } of REFUSED) {
  test(`strict: ${name} is refused (${code})`, () => {
    const { p } = parser();
    const errno = p.execute(bytes(text));
    assert.notEqual(errno, LLHTTP.OK);
    assert.notEqual(errno, LLHTTP.PAUSED);
    assert.equal(p.errorCode(errno), code);
    p.destroy();
  });
}
