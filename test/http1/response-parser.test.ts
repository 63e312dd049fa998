/**
 * @module ResponseParser (src/http1/response-parser.ts) driven directly: the events it
 * reports and their order, the same events whatever the chunking, everything strict
 * llhttp refuses, interim responses, bodies that a status or a HEAD rules out, bodies
 * delimited by the close, keep-alive, bytes nobody asked for, the header limit, and
 * parsers that share the thread's one wasm instance without sharing state.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParseError, ResponseParser } from '../../src/http1/response-parser.ts';

type Event =
  | { readonly kind: 'begin' }
  | { readonly kind: 'headers'; readonly status: number; readonly message: string; readonly raw: readonly string[]; readonly keepAlive: boolean }
  | { readonly kind: 'body'; readonly text: string }
  | { readonly kind: 'complete' };

interface Options {
  /** What onBegin answers, call by call; true once the list runs out. */
  readonly begin?: readonly boolean[];
  /** What onHeaders answers (true: no body, as for HEAD). */
  readonly headOnly?: boolean;
  readonly maxHeaderBytes?: number;
}

/** A parser that records its events; body chunks are kept apart (see `merged`). */
function recorder(options: Options = {}): { parser: ResponseParser; events: Event[] } {
  const events: Event[] = [];
  let begins = 0;
  const parser = new ResponseParser(
    {
      onBegin() {
        events.push({ kind: 'begin' });
        return options.begin?.[begins++] ?? true;
      },
      onHeaders(status, message, raw, keepAlive) {
        // The parser may reuse its array: keep a copy of what it said at this moment.
        events.push({ kind: 'headers', status, message, raw: [...raw], keepAlive });
        return options.headOnly ?? false;
      },
      onBody(chunk) {
        events.push({ kind: 'body', text: chunk.toString('latin1') });
      },
      onComplete() {
        events.push({ kind: 'complete' });
      },
    },
    options.maxHeaderBytes ?? 16 * 1024,
  );
  return { parser, events };
}

/** Events with consecutive body chunks joined: chunking may split a body anywhere. */
function merged(events: readonly Event[]): Event[] {
  const out: Event[] = [];
  for (const event of events) {
    const last = out.at(-1);
    if (event.kind === 'body' && last?.kind === 'body') out[out.length - 1] = { kind: 'body', text: last.text + event.text };
    else out.push(event);
  }
  return out;
}

type Feeding = 'whole' | 'byte by byte';

function feed(parser: ResponseParser, bytes: string, feeding: Feeding): void {
  const buffer = Buffer.from(bytes, 'latin1');
  if (feeding === 'whole') return parser.execute(buffer);
  for (let i = 0; i < buffer.length; i++) parser.execute(buffer.subarray(i, i + 1));
}

/** Parses `bytes`, then `finish()` (the connection ended) when asked; returns the events and what was thrown. */
function parse(bytes: string, feeding: Feeding, options: Options & { finish?: boolean } = {}): { events: Event[]; error: unknown } {
  const { parser, events } = recorder(options);
  let error: unknown = null;
  try {
    feed(parser, bytes, feeding);
    if (options.finish) parser.finish();
  } catch (thrown) {
    error = thrown;
  } finally {
    parser.destroy();
  }
  return { events: merged(events), error };
}

const FEEDINGS: readonly Feeding[] = ['whole', 'byte by byte'];

const begin: Event = { kind: 'begin' };
const complete: Event = { kind: 'complete' };
function headers(status: number, message: string, raw: readonly string[], keepAlive: boolean): Event {
  return { kind: 'headers', status, message, raw, keepAlive };
}
function body(text: string): Event {
  return { kind: 'body', text };
}

/** Asserts that `error` is a ResponseParseError with an llhttp-style code (and that code, when given). */
function assertRefused(error: unknown, what: string, code?: string): ResponseParseError {
  assert.ok(error instanceof ResponseParseError, `${what}: expected a ResponseParseError, got ${String(error)}`);
  assert.match(error.code, /^HPE_[A-Z_]+$/, what);
  if (code !== undefined) assert.equal(error.code, code, what);
  return error;
}

// --- well-formed responses, whatever the chunking ---------------------------------------

const WELL_FORMED: ReadonlyArray<{ name: string; bytes: string; events: readonly Event[] }> = [
  {
    name: 'a Content-Length body',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
    events: [begin, headers(200, 'OK', ['Content-Type', 'text/plain', 'Content-Length', '11'], true), body('hello world'), complete],
  },
  {
    name: 'raw header names keep their case, repeated headers are kept in order, an empty value stays',
    bytes:
      'HTTP/1.1 201 Created Here\r\nX-MiXeD-CaSe: Value With  Spaces\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n',
    events: [
      begin,
      headers(
        201,
        'Created Here',
        ['X-MiXeD-CaSe', 'Value With  Spaces', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Set-Cookie', 'c=3', 'X-Empty', '', 'Content-Length', '0'],
        true,
      ),
      complete,
    ],
  },
  {
    name: 'a chunked body with a chunk extension and a trailer',
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
    events: [begin, headers(200, 'OK', ['Transfer-Encoding', 'chunked'], true), body('hello 0123456789'), complete],
  },
  {
    name: 'two responses in a row (two requests outstanding)',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n',
    events: [
      begin,
      headers(200, 'OK', ['Content-Length', '3'], true),
      body('one'),
      complete,
      begin,
      headers(404, 'Not Found', ['Transfer-Encoding', 'chunked'], true),
      body('two'),
      complete,
    ],
  },
  {
    name: 'a body with every byte value',
    bytes: `HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n${Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1')}`,
    events: [
      begin,
      headers(200, 'OK', ['Content-Length', '256'], true),
      body(Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1')),
      complete,
    ],
  },
];

for (const { name, bytes, events } of WELL_FORMED) {
  test(`parses ${name}: begin, headers, body, complete, in order, fed whole or one byte at a time`, () => {
    for (const feeding of FEEDINGS) {
      const result = parse(bytes, feeding);
      assert.equal(result.error, null, `${feeding}: ${String(result.error)}`);
      assert.deepEqual(result.events, events, feeding);
    }
  });
}

test('one byte at a time, the body arrives in pieces whose concatenation is the body, and nothing else differs', () => {
  const bytes = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n';
  const { parser, events } = recorder();
  feed(parser, bytes, 'byte by byte');
  parser.destroy();
  const pieces = events.filter((event) => event.kind === 'body');
  assert.ok(pieces.length > 1, 'byte-by-byte input gave a body in one piece');
  assert.equal(pieces.map((piece) => piece.text).join(''), 'abcdefg');
  assert.deepEqual(merged(events), parse(bytes, 'whole').events);
});

// --- strictness -----------------------------------------------------------------------

/** Responses a lenient parser might accept and a proxy must not: each is a 502. `code`
 * is given only where the parser itself names the failure rather than llhttp. */
const MALFORMED: ReadonlyArray<{ name: string; bytes: string; code?: string }> = [
  { name: 'an obs-fold (a header line continued on the next)', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'bare LF line endings', bytes: 'HTTP/1.1 200 OK\nContent-Length: 0\n\n' },
  { name: 'a bare LF ending the head', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n' },
  { name: 'a bare CR ending the status line', bytes: 'HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n' },
  { name: 'a bare CR inside a header value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n' },
  { name: 'a duplicate Content-Length with the same value', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a duplicate Content-Length with different values', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok' },
  { name: 'a Content-Length list (`2, 2`)', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok' },
  { name: 'Transfer-Encoding then Content-Length', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'Content-Length then Transfer-Encoding', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'a space inside a header name', bytes: 'HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'a space before the colon', bytes: 'HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'a NUL in a header value', bytes: 'HTTP/1.1 200 OK\r\nX-A: b\0c\r\nContent-Length: 0\r\n\r\n' },
  { name: 'garbage instead of a status line', bytes: 'garbage\r\n\r\n' },
  { name: 'an HTTP/0.9-style bare body', bytes: '<html>hello</html>' },
  {
    name: 'a 101 Switching Protocols (no upgrade was asked for)',
    bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    code: 'HPE_UNEXPECTED_UPGRADE',
  },
];

for (const { name, bytes, code } of MALFORMED) {
  test(`refuses ${name} with a ResponseParseError and an HPE_ code, before any headers are handed on`, () => {
    const codes = new Set<string>();
    for (const feeding of FEEDINGS) {
      const { events, error } = parse(bytes, feeding, { finish: true });
      const refused = assertRefused(error, `${name}, fed ${feeding}`, code);
      codes.add(refused.code);
      assert.deepEqual(
        events.filter((event) => event.kind !== 'begin'),
        [],
        `${name}, fed ${feeding}: events before the refusal`,
      );
    }
    assert.equal(codes.size, 1, `different codes whole and byte by byte: ${[...codes].join(', ')}`);
  });
}

test('a parser that refused a response keeps refusing: more bytes throw, nothing more is reported', () => {
  const { parser, events } = recorder();
  assert.throws(() => parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nX A: b\r\n\r\n')), ResponseParseError);
  const seen = events.length;
  assert.throws(() => parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')), ResponseParseError);
  assert.equal(events.length, seen);
  parser.destroy();
});

// --- interim responses ----------------------------------------------------------------

test('100 Continue and 103 Early Hints before the final response are passed over: only the final response is reported', () => {
  const cases = [
    { interim: 'HTTP/1.1 100 Continue\r\n\r\n' },
    { interim: 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' },
    { interim: 'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n' },
  ];
  const final = 'HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 5\r\n\r\nfinal';
  for (const { interim } of cases) {
    for (const feeding of FEEDINGS) {
      const { events, error } = parse(interim + final, feeding);
      assert.equal(error, null, `${JSON.stringify(interim)} ${feeding}: ${String(error)}`);
      assert.deepEqual(events, [begin, headers(200, 'OK', ['X-Final', 'yes', 'Content-Length', '5'], true), body('final'), complete], `${JSON.stringify(interim)} ${feeding}`);
    }
  }
});

test('an interim response arriving in one execute and the final one in the next still reports the final response once', () => {
  const { parser, events } = recorder();
  parser.execute(Buffer.from('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'));
  assert.deepEqual(
    events.filter((event) => event.kind !== 'begin'),
    [],
    'the interim response was reported',
  );
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  parser.destroy();
  assert.deepEqual(merged(events), [begin, headers(200, 'OK', ['Content-Length', '2'], true), body('ok'), complete]);
});

// --- responses without a body ---------------------------------------------------------

test('204 and 304 have no body even when they declare Content-Length: 5', () => {
  for (const [status, message] of [
    [204, 'No Content'],
    [304, 'Not Modified'],
  ] as const) {
    for (const feeding of FEEDINGS) {
      const { events, error } = parse(`HTTP/1.1 ${status} ${message}\r\nContent-Length: 5\r\n\r\n`, feeding);
      assert.equal(error, null, `${status} ${feeding}: ${String(error)}`);
      assert.deepEqual(events, [begin, headers(status, message, ['Content-Length', '5'], true), complete], `${status} ${feeding}`);
    }
  }
});

test('the bytes a 204 declared are not taken as its body: they are the start of another response', () => {
  const { events, error } = parse('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello', 'whole', { begin: [true, false] });
  assertRefused(error, 'stray bytes after a 204', 'HPE_UNSOLICITED');
  assert.deepEqual(events, [begin, headers(204, 'No Content', ['Content-Length', '5'], true), complete, begin]);
});

test('onHeaders returning true (a response to HEAD) means no body, whatever Content-Length or Transfer-Encoding say', () => {
  for (const head of ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n']) {
    for (const feeding of FEEDINGS) {
      const { events, error } = parse(head, feeding, { headOnly: true });
      assert.equal(error, null, `${JSON.stringify(head)} ${feeding}: ${String(error)}`);
      assert.deepEqual(events.map((event) => event.kind), ['begin', 'headers', 'complete'], `${JSON.stringify(head)} ${feeding}`);
    }
  }
  // The same head to a GET waits for its five bytes.
  const { parser, events } = recorder();
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'));
  assert.deepEqual(events.map((event) => event.kind), ['begin', 'headers']);
  parser.destroy();
});

// --- bodies delimited by the close ------------------------------------------------------

test('a body with neither length nor chunked framing runs to the close: delivered as it comes, complete only at finish()', () => {
  const cases = [
    { head: 'HTTP/1.1 200 OK\r\n\r\n', raw: [] as string[] },
    { head: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', raw: ['Transfer-Encoding', 'chunked, gzip'] },
    { head: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', raw: ['Transfer-Encoding', 'gzip'] },
  ];
  for (const { head, raw } of cases) {
    for (const feeding of FEEDINGS) {
      const what = `${JSON.stringify(head)} ${feeding}`;
      const { parser, events } = recorder();
      // `0\r\n\r\n` inside: it is body, not a last chunk, when chunked is not the last coding.
      feed(parser, `${head}5\r\nhello\r\n0\r\n\r\n`, feeding);
      feed(parser, 'more', feeding);
      assert.deepEqual(merged(events), [begin, headers(200, 'OK', raw, false), body('5\r\nhello\r\n0\r\n\r\nmore')], `${what}: before finish()`);
      parser.finish();
      parser.destroy();
      assert.deepEqual(merged(events), [begin, headers(200, 'OK', raw, false), body('5\r\nhello\r\n0\r\n\r\nmore'), complete], `${what}: after finish()`);
    }
  }
});

test('a response cut off makes finish() throw: inside a Content-Length body, a chunked body, or the head', () => {
  const cases = [
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel',
    'HTTP/1.1 200 OK\r\nContent-Le',
  ];
  for (const bytes of cases) {
    for (const feeding of FEEDINGS) {
      const { parser, events } = recorder();
      feed(parser, bytes, feeding);
      assert.throws(
        () => parser.finish(),
        (error: unknown) => assertRefused(error, `${JSON.stringify(bytes)} ${feeding}`) !== null,
      );
      parser.destroy();
      assert.ok(!events.some((event) => event.kind === 'complete'), `${JSON.stringify(bytes)} ${feeding}: reported complete`);
    }
  }
});

test('finish() between responses (nothing outstanding) is quiet', () => {
  const { parser, events } = recorder();
  parser.finish();
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  parser.finish();
  parser.destroy();
  assert.deepEqual(merged(events), [begin, headers(200, 'OK', ['Content-Length', '2'], true), body('ok'), complete]);
});

// --- keep-alive -----------------------------------------------------------------------

test('keepAlive follows the version and the Connection header', () => {
  const cases = [
    { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', keepAlive: true },
    { bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', keepAlive: false },
    { bytes: 'HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n', keepAlive: false },
    { bytes: 'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n', keepAlive: false },
    { bytes: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n', keepAlive: true },
    { bytes: 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', keepAlive: false },
  ];
  for (const { bytes, keepAlive } of cases) {
    for (const feeding of FEEDINGS) {
      const { events, error } = parse(bytes, feeding);
      assert.equal(error, null, `${JSON.stringify(bytes)} ${feeding}: ${String(error)}`);
      const reported = events.find((event) => event.kind === 'headers');
      assert.equal(reported?.kind === 'headers' && reported.keepAlive, keepAlive, `${JSON.stringify(bytes)} ${feeding}`);
      assert.equal(events.at(-1)?.kind, 'complete', `${JSON.stringify(bytes)} ${feeding}`);
    }
  }
});

// --- bytes nobody asked for -----------------------------------------------------------

test('bytes after a complete response, when onBegin says none is expected, throw HPE_UNSOLICITED after the first onComplete', () => {
  const bytes = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';
  for (const feeding of FEEDINGS) {
    const { events, error } = parse(bytes, feeding, { begin: [true, false] });
    assertRefused(error, feeding, 'HPE_UNSOLICITED');
    assert.deepEqual(events, [begin, headers(200, 'OK', ['Content-Length', '2'], true), body('ok'), complete, begin], feeding);
  }
  // A single stray byte is enough.
  const { events, error } = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX', 'whole', { begin: [true, false] });
  assertRefused(error, 'one stray byte', 'HPE_UNSOLICITED');
  assert.equal(events.filter((event) => event.kind === 'complete').length, 1);
  // And bytes before any request: the first onBegin already says no.
  const first = parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'whole', { begin: [false] });
  assertRefused(first.error, 'bytes before any request', 'HPE_UNSOLICITED');
  assert.deepEqual(first.events, [begin]);
});

// --- the header limit -----------------------------------------------------------------

test('response headers over the limit are refused with HPE_HEADER_OVERFLOW: one big header or many small ones', () => {
  const limit = 1024;
  const under = `HTTP/1.1 200 OK\r\nX-Fill: ${'a'.repeat(limit / 2)}\r\nContent-Length: 0\r\n\r\n`;
  const oneBig = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(limit + 1)}\r\nContent-Length: 0\r\n\r\n`;
  const manySmall = `HTTP/1.1 200 OK\r\n${Array.from({ length: 100 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
  const longName = `HTTP/1.1 200 OK\r\nX-${'n'.repeat(limit + 1)}: v\r\nContent-Length: 0\r\n\r\n`;
  const longReason = `HTTP/1.1 200 ${'R'.repeat(limit + 1)}\r\nContent-Length: 0\r\n\r\n`;
  for (const feeding of FEEDINGS) {
    const fine = parse(under, feeding, { maxHeaderBytes: limit });
    assert.equal(fine.error, null, `${feeding}: headers under the limit refused: ${String(fine.error)}`);
    assert.equal(fine.events.at(-1)?.kind, 'complete');
    for (const [what, bytes] of [
      ['one big header', oneBig],
      ['many small headers', manySmall],
      ['a long header name', longName],
      ['a long reason phrase', longReason],
    ] as const) {
      const { events, error } = parse(bytes, feeding, { maxHeaderBytes: limit });
      assertRefused(error, `${what}, fed ${feeding}`, 'HPE_HEADER_OVERFLOW');
      assert.deepEqual(events, [begin], `${what}, fed ${feeding}`);
    }
  }
});

test('the header limit is counted per response: many responses each under it pass', () => {
  const limit = 512;
  const one = `HTTP/1.1 200 OK\r\nX-Fill: ${'a'.repeat(300)}\r\nContent-Length: 1\r\n\r\nx`;
  const { parser, events } = recorder({ maxHeaderBytes: limit });
  parser.execute(Buffer.from(one.repeat(5)));
  parser.destroy();
  assert.equal(events.filter((event) => event.kind === 'complete').length, 5);
});

test('trailers do not count against the head\'s limit: a chunked response whose head is under it is not refused for its trailers', () => {
  const limit = 1024;
  const head = `HTTP/1.1 200 OK\r\nX-Fill: ${'a'.repeat(900)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const bytes = `${head}5\r\nhello\r\n0\r\nX-Checksum: ${'c'.repeat(200)}\r\n\r\n`;
  for (const feeding of FEEDINGS) {
    const { events, error } = parse(bytes, feeding, { maxHeaderBytes: limit });
    assert.equal(error, null, `${feeding}: ${String(error)}`);
    assert.deepEqual(events, [begin, headers(200, 'OK', ['X-Fill', 'a'.repeat(900), 'Transfer-Encoding', 'chunked'], true), body('hello'), complete], feeding);
  }
});

test(
  'the header list handed to onHeaders is not changed afterwards: trailers are not appended to it',
  () => {
    let handed: readonly string[] = [];
    const parser = new ResponseParser(
      {
        onBegin: () => true,
        onHeaders: (_status, _message, raw) => {
          handed = raw;
          return false;
        },
        onBody: () => {},
        onComplete: () => {},
      },
      16 * 1024,
    );
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n'));
    parser.destroy();
    assert.deepEqual(handed, ['Transfer-Encoding', 'chunked']);
  },
);

// --- parsers sharing the thread's wasm instance ---------------------------------------

test('parsers fed alternately, byte by byte, do not mix state (one wasm instance per thread)', () => {
  const streams = [
    'HTTP/1.1 200 OK\r\nX-Who: first\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nalpha!\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone',
    'HTTP/1.1 103 Early Hints\r\nLink: </b>; rel=preload\r\n\r\nHTTP/1.0 500 Internal Server Error\r\nX-Who: second\r\nContent-Length: 9\r\n\r\nbravo....',
    'HTTP/1.1 204 No Content\r\nX-Who: third\r\n\r\nHTTP/1.1 200 OK\r\n\r\nclose-delimited charlie',
  ];
  const expected = streams.map((bytes) => {
    const { parser, events } = recorder();
    feed(parser, bytes, 'whole');
    parser.finish();
    parser.destroy();
    return merged(events);
  });
  const parsers = streams.map(() => recorder());
  const buffers = streams.map((bytes) => Buffer.from(bytes, 'latin1'));
  const longest = Math.max(...buffers.map((buffer) => buffer.length));
  for (let i = 0; i < longest; i++) {
    buffers.forEach((buffer, which) => {
      if (i < buffer.length) parsers[which]?.parser.execute(buffer.subarray(i, i + 1));
    });
  }
  parsers.forEach(({ parser }) => {
    parser.finish();
    parser.destroy();
  });
  assert.deepEqual(
    parsers.map(({ events }) => merged(events)),
    expected,
  );
  // A failure in one parser leaves the others untouched.
  const good = recorder();
  const bad = recorder();
  good.parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Len'));
  assert.throws(() => bad.parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nX A: b\r\n\r\n')), ResponseParseError);
  good.parser.execute(Buffer.from('gth: 2\r\n\r\nok'));
  good.parser.destroy();
  bad.parser.destroy();
  assert.deepEqual(merged(good.events), [begin, headers(200, 'OK', ['Content-Length', '2'], true), body('ok'), complete]);
});

test('a chunk larger than any before is parsed whole (the shared input buffer grows)', () => {
  const big = 'x'.repeat(3 * 1024 * 1024 + 17);
  const { events, error } = parse(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`, 'whole');
  assert.equal(error, null);
  assert.deepEqual(events, [begin, headers(200, 'OK', ['Content-Length', String(big.length)], true), body(big), complete]);
});
