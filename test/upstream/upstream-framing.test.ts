/**
 * @module The upstream HTTP/1.1 client seen from outside: a real balancer (one listener
 * thread) in front of raw TCP backends that write scripted bytes. Malformed responses
 * become a 502 and their connection is never used again; interim responses, HEAD, 204,
 * close-delimited bodies and bytes nobody asked for are framed correctly for the client;
 * keep-alive connections are reused only when both sides allow it; request bodies are
 * framed correctly toward the backend.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { ResponseParseError, ResponseParser } from '../../src/http1/response-parser.ts';
import { openRawClient, rawExchange, startTestBalancer, waitFor, within, type RawClient, type TestBalancer } from '../helpers.ts';

// --- a raw backend ----------------------------------------------------------------------

/** One request as the backend read it off the wire. */
interface SeenRequest {
  /** Its place among every request this backend received (0, 1, ...). */
  readonly index: number;
  /** Which accepted connection carried it (0, 1, ...). */
  readonly connection: number;
  /** Its place among the requests on that connection. */
  readonly onConnection: number;
  readonly method: string;
  readonly target: string;
  /** The head as sent, request line included, without the blank line. */
  readonly head: string;
  /** name (lower case) -> values, in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  /** The body bytes as framed on the wire (chunk sizes included when chunked). */
  readonly rawBody: Buffer;
  /** The body, de-chunked. */
  readonly body: Buffer;
  /** Milliseconds the connection had been idle (since its previous response was written) when this request began; 0 for the first. */
  readonly idleMs: number;
}

interface RawBackend {
  readonly port: number;
  readonly origin: string;
  readonly requests: SeenRequest[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Which accepted connections have closed. */
  readonly closed: ReadonlySet<number>;
}

type Answer = (request: SeenRequest, socket: Socket) => void;

/** The next whole request at the start of `buffer`, and how many bytes it took; null if incomplete. */
function takeRequest(buffer: Buffer): { request: Omit<SeenRequest, 'index' | 'connection' | 'onConnection' | 'idleMs'>; length: number } | null {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const head = buffer.subarray(0, headEnd).toString('latin1');
  const [requestLine = '', ...lines] = head.split('\r\n');
  const [method = '', target = ''] = requestLine.split(' ');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const bodyStart = headEnd + 4;
  if ((headers.get('transfer-encoding') ?? []).join(',').toLowerCase().includes('chunked')) {
    const pieces: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = Number.parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        // No trailers from the balancer: the last chunk is `0\r\n\r\n`.
        const end = lineEnd + 4;
        if (buffer.length < end) return null;
        return { request: { method, target, head, headers, rawBody: buffer.subarray(bodyStart, end), body: Buffer.concat(pieces) }, length: end };
      }
      if (buffer.length < lineEnd + 2 + size + 2) return null;
      pieces.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers.get('content-length')?.[0] ?? 0);
  if (buffer.length < bodyStart + length) return null;
  const rawBody = buffer.subarray(bodyStart, bodyStart + length);
  return { request: { method, target, head, headers, rawBody, body: rawBody }, length: bodyStart + length };
}

/**
 * A TCP server on an ephemeral port that reads whole requests and calls `answer` for
 * each; `answer` writes whatever bytes it likes. It never closes a connection unless
 * `answer` does, so a connection the balancer should drop must be dropped by the balancer.
 */
async function startRawBackend(t: TestContext, answer: Answer): Promise<RawBackend> {
  const requests: SeenRequest[] = [];
  const closed = new Set<number>();
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    const connection = accepted++;
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    let onConnection = 0;
    let lastAnsweredAt = 0;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      closed.add(connection);
    });
    socket.on('data', (chunk: Buffer) => {
      const idleMs = lastAnsweredAt === 0 || pending.length > 0 ? 0 : Date.now() - lastAnsweredAt;
      pending = Buffer.concat([pending, chunk]);
      for (let taken = takeRequest(pending); taken !== null; taken = takeRequest(pending)) {
        pending = pending.subarray(taken.length);
        const seen: SeenRequest = { ...taken.request, index: requests.length, connection, onConnection: onConnection++, idleMs };
        requests.push(seen);
        answer(seen, socket);
        lastAnsweredAt = Date.now();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    get accepted() {
      return accepted;
    },
    closed,
  };
}

/** A well-formed keep-alive response with `body`. */
function ok(body: string, extraHeaders = ''): string {
  return `HTTP/1.1 200 OK\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}

/** The balancer in front of `backend`: one listener thread, no retries (a retry would hide what is tested). */
function balancerFor(t: TestContext, backend: RawBackend, extra: readonly string[] = []): Promise<TestBalancer> {
  return startTestBalancer(t, ['--threads', '1', '--retries', '0', ...extra, '--backend', backend.origin]);
}

/** What ResponseParser itself says of `bytes` (the code the balancer must report for them). */
function parserVerdict(bytes: string): string {
  const parser = new ResponseParser({ onBegin: () => true, onHeaders: () => false, onBody: () => {}, onComplete: () => {} }, 16 * 1024);
  try {
    parser.execute(Buffer.from(bytes, 'latin1'));
    parser.finish();
    return 'accepted';
  } catch (error) {
    return error instanceof ResponseParseError ? error.code : String(error);
  } finally {
    parser.destroy();
  }
}

// --- the client side: whole responses out of a raw client's bytes ------------------------

interface ClientResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  /** The body as the client would see it (de-chunked). */
  readonly body: string;
  /** Whether it was framed chunked (with its terminating chunk). */
  readonly chunked: boolean;
}

/**
 * The complete responses at the start of `text`, one per entry of `methods` at most (a
 * response to HEAD has no body). A response whose framing is incomplete ends the list.
 */
function responsesIn(text: string, methods: readonly string[]): { responses: ClientResponse[]; rest: string } {
  const responses: ClientResponse[] = [];
  let at = 0;
  for (let index = 0; index < methods.length; index++) {
    const method = methods[index] as string;
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = text.slice(at, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const bodyStart = headEnd + 4;
    // An interim response (103 Early Hints, relayed) comes before the final one of the
    // same request: it takes no request's place.
    if (status >= 100 && status < 200) {
      at = bodyStart;
      index--;
      continue;
    }
    if (method === 'HEAD' || status === 204 || status === 304) {
      responses.push({ status, headers, body: '', chunked: false });
      at = bodyStart;
      continue;
    }
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      let body = '';
      let cursor = bodyStart;
      let done = false;
      for (;;) {
        const lineEnd = text.indexOf('\r\n', cursor);
        if (lineEnd < 0) break;
        const size = Number.parseInt(text.slice(cursor, lineEnd), 16);
        if (size === 0) {
          if (text.length >= lineEnd + 4) {
            done = true;
            cursor = lineEnd + 4;
          }
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        cursor = lineEnd + 2 + size + 2;
      }
      if (!done) break;
      responses.push({ status, headers, body, chunked: true });
      at = cursor;
      continue;
    }
    const length = Number(headers.get('content-length') ?? Number.NaN);
    if (Number.isNaN(length) || text.length < bodyStart + length) break;
    responses.push({ status, headers, body: text.slice(bodyStart, bodyStart + length), chunked: false });
    at = bodyStart + length;
  }
  return { responses, rest: text.slice(at) };
}

/** Writes one request on `client` and resolves with its response (the `index`-th on that connection). */
async function exchange(client: RawClient, methods: string[], requestText: string): Promise<ClientResponse> {
  const method = requestText.slice(0, requestText.indexOf(' '));
  methods.push(method);
  client.write(requestText);
  const what = `response ${methods.length} on the client connection (${method})`;
  const received = await client.readUntil((text) => responsesIn(text, methods).responses.length === methods.length, what);
  const response = responsesIn(received, methods).responses.at(-1);
  assert.ok(response, what);
  return response;
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
}

/**
 * For a close the balancer makes at once (in the same turn as the response): a generous
 * poll, but shorter than the balancer's own 4 s idle close of upstream connections
 * (IDLE_MS in upstream-pools.ts), which would otherwise stand in for the close under test.
 */
const PROMPT_CLOSE = { timeoutMs: 3_000 };

const MALFORMED_BODY = /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ sent a malformed response \((HPE_[A-Z_]+)\)\n$/;

// --- malformed responses ------------------------------------------------------------------

const MALFORMED: ReadonlyArray<{ name: string; bytes: string }> = [
  { name: 'an obs-fold', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'bare LF line endings', bytes: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok' },
  { name: 'a bare CR', bytes: 'HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\nok' },
  { name: 'a bare CR inside a header value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a duplicate Content-Length, same value', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a duplicate Content-Length, different values', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 8\r\n\r\nokokokok' },
  { name: 'Content-Length: 2, 2', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok' },
  { name: 'Transfer-Encoding with Content-Length', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'Content-Length with Transfer-Encoding', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'a space in a header name', bytes: 'HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a space before the colon', bytes: 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok' },
  { name: 'a NUL in a header value', bytes: 'HTTP/1.1 200 OK\r\nX-A: b\0c\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'garbage instead of a status line', bytes: 'garbage\r\n\r\n' },
  { name: '101 Switching Protocols', bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
  { name: 'response headers over 16 KiB', bytes: `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\nContent-Length: 2\r\n\r\nok` },
  {
    name: 'many response headers adding up to over 16 KiB',
    bytes: `HTTP/1.1 200 OK\r\n${Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}\r\n`).join('')}Content-Length: 2\r\n\r\nok`,
  },
];

for (const { name, bytes } of MALFORMED) {
  test(`a backend that sends ${name}: the client gets a 502 naming the malformed response, and the connection is not reused`, async (t) => {
    const expectedCode = parserVerdict(bytes);
    assert.match(expectedCode, /^HPE_/, `ResponseParser accepts ${JSON.stringify(bytes.slice(0, 100))}`);
    // The first request gets the malformed bytes; the connection stays open on the
    // backend's side, so only the balancer can decide not to use it again.
    const backend = await startRawBackend(t, (seen, socket) => {
      socket.write(seen.index === 0 ? bytes : ok(`fine ${seen.index}`), 'latin1');
    });
    const balancer = await balancerFor(t, backend);

    const bad = await request(`${balancer.url}/bad`);
    const text = await bad.body.text();
    assert.equal(bad.statusCode, 502, text);
    assert.equal(bad.headers['x-switchyard-error'], 'BACKEND_FAILED');
    assert.match(text, /sent a malformed response \(HPE_[A-Z_]+\)\n$/);
    assert.equal(MALFORMED_BODY.exec(text)?.[1], expectedCode, text);

    // At once: the balancer drops the connection before it answers the 502.
    const good = await request(`${balancer.url}/good`);
    assert.equal(good.statusCode, 200);
    assert.equal(await good.body.text(), 'fine 1');
    assert.deepEqual(
      backend.requests.map(({ target, connection }) => [target, connection]),
      [
        ['/bad', 0],
        ['/good', 1],
      ],
      'the request after the malformed response went on the same connection',
    );
    await waitFor(() => backend.closed.has(0), 'the balancer to close the connection that carried the malformed response', PROMPT_CLOSE);
  });
}

test('response headers over 16 KiB are refused as HPE_HEADER_OVERFLOW, and headers just under pass', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => {
    const fill = seen.target === '/over' ? 17 * 1024 : 15 * 1024;
    socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(fill)}\r\nContent-Length: 2\r\n\r\nok`);
  });
  const balancer = await balancerFor(t, backend);
  const over = await request(`${balancer.url}/over`);
  const text = await over.body.text();
  assert.equal(over.statusCode, 502);
  assert.equal(MALFORMED_BODY.exec(text)?.[1], 'HPE_HEADER_OVERFLOW', text);
  const under = await request(`${balancer.url}/under`);
  assert.equal(under.statusCode, 200);
  assert.equal(String(under.headers['x-big']).length, 15 * 1024);
  assert.equal(await under.body.text(), 'ok');
});

test(
  'a chunked response whose head is under 16 KiB and whose trailer takes it over is relayed whole',
  async (t) => {
    const backend = await startRawBackend(t, (_seen, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(15 * 1024)}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: ${'c'.repeat(2048)}\r\n\r\n`);
    });
    const balancer = await balancerFor(t, backend);
    const res = await request(`${balancer.url}/trailer`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'hello');
  },
);

// --- interim responses ------------------------------------------------------------------

test('100 Continue then 200, and 103 Early Hints then 200: the client gets the 103 (not the 100) and then the 200 and its body, and its connection goes on working', async (t) => {
  const interim: Record<string, string> = {
    '/continue': 'HTTP/1.1 100 Continue\r\n\r\n',
    '/hints': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n',
    '/hints-apart': 'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n',
  };
  const backend = await startRawBackend(t, (seen, socket) => {
    const before = interim[seen.target] ?? '';
    const final = ok(`final for ${seen.target}`, 'X-Final: yes\r\n');
    // One request gets the interim response in a write of its own, a moment before the final one.
    if (seen.target === '/hints-apart') {
      socket.write(before);
      setTimeout(() => socket.write(final), 20);
    } else {
      socket.write(before + final);
    }
  });
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  for (const path of ['/continue', '/hints', '/hints-apart', '/plain']) {
    const response = await exchange(client, methods, get(path));
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get('x-final'), 'yes', path);
    assert.equal(response.body, `final for ${path}`, path);
  }
  assert.equal(client.closed, false);
  // The backend's 100 answers an Expect the balancer never sent upstream: it is passed over.
  // A 103 is relayed to this HTTP/1.1 client ahead of its final response.
  assert.deepEqual(client.received.match(/HTTP\/1\.1 1\d\d[^\r]*\r\n[^\r]*/g), [
    'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style',
    'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload',
  ]);
  assert.equal(backend.accepted, 1, 'an interim response cost the keep-alive connection');
});

test('an HTTP/1.0 client, which cannot take an interim response, gets no 103: only the final response', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => {
    socket.write(`HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n${ok(`final for ${seen.target}`)}`);
  });
  const balancer = await balancerFor(t, backend);
  const { response } = await rawExchange(balancer.port, 'GET /old HTTP/1.0\r\nHost: h\r\n\r\n');
  assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(response, /103/);
  assert.match(response, /final for \/old$/);
});

// --- responses without a body ------------------------------------------------------------

test('HEAD gets a 200 without a body, even from a backend that wrongly sends one, and the next request works', async (t) => {
  // The wrong body comes with the head, a moment later, or only if another request
  // comes on that connection (then only a reused connection would read it).
  for (const wrongBody of ['with the head', 'a moment later', 'before the next answer on that connection'] as const) {
    await t.test(`the wrong body ${wrongBody}`, async (t) => {
      const backend = await startRawBackend(t, (seen, socket) => {
        const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Head: yes\r\n\r\n';
        if (seen.method === 'HEAD') {
          if (wrongBody === 'with the head') socket.write(`${head}WRONG`);
          else socket.write(head);
          if (wrongBody === 'a moment later') setTimeout(() => socket.write('WRONG'), 20);
        } else {
          const late = wrongBody === 'before the next answer on that connection' && seen.connection === 0 && seen.onConnection > 0 ? 'WRONG' : '';
          socket.write(late + ok(`after ${seen.index}`));
        }
      });
      const balancer = await balancerFor(t, backend);
      const client = await openRawClient(t, balancer.port);
      const methods: string[] = [];
      const head = await exchange(client, methods, `HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('x-head'), 'yes');
      // The connection is dropped before the client has the head; only the body sent
      // a moment later needs time to arrive (had the connection been kept).
      if (wrongBody === 'a moment later') await waitFor(() => backend.closed.has(0), 'the balancer to close the upstream connection after HEAD', PROMPT_CLOSE);
      const after = await exchange(client, methods, get('/after'));
      assert.equal(after.status, 200);
      assert.equal(after.body, 'after 1');
      assert.equal(responsesIn(client.received, methods).rest, '', 'bytes beyond the two responses');
      assert.doesNotMatch(client.received, /WRONG/);
      assert.deepEqual(
        backend.requests.map(({ method, connection }) => [method, connection]),
        [
          ['HEAD', 0],
          ['GET', 1],
        ],
      );
      // The balancer asked the backend to close after the HEAD, too.
      assert.deepEqual(backend.requests[0]?.headers.get('connection'), ['close']);
      await waitFor(() => backend.closed.has(0), 'the balancer to close the upstream connection after HEAD', PROMPT_CLOSE);
    });
  }
});

test('a 204 that declares Content-Length: 5 and sends 5 stray bytes: the next request gets its own answer, never the stray bytes', async (t) => {
  // The stray bytes come with the head, a moment later, or only if another request
  // comes on that connection (then only a reused connection would read them).
  for (const strays of ['with the head', 'a moment later', 'before the next answer on that connection'] as const) {
    await t.test(`stray bytes ${strays}`, async (t) => {
      const backend = await startRawBackend(t, (seen, socket) => {
        if (seen.target === '/204') {
          const head = 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n';
          if (strays === 'with the head') socket.write(`${head}STRAY`);
          else socket.write(head);
          if (strays === 'a moment later') setTimeout(() => socket.write('STRAY'), 20);
        } else {
          const late = strays === 'before the next answer on that connection' && seen.connection === 0 && seen.onConnection > 0 ? 'STRAY' : '';
          socket.write(late + ok(`answer to ${seen.target}`));
        }
      });
      const balancer = await balancerFor(t, backend);
      const client = await openRawClient(t, balancer.port);
      const methods: string[] = [];
      const noContent = await exchange(client, methods, get('/204'));
      assert.equal(noContent.status, 204);
      // The connection is dropped before the client has the 204; only stray bytes sent
      // a moment later need time to arrive (had the connection been kept).
      if (strays === 'a moment later') await waitFor(() => backend.closed.has(0), 'the balancer to close the connection of the 204', PROMPT_CLOSE);
      const next = await exchange(client, methods, get('/next'));
      assert.equal(next.status, 200);
      assert.equal(next.body, 'answer to /next');
      const again = await exchange(client, methods, get('/again'));
      assert.equal(again.body, 'answer to /again');
      assert.doesNotMatch(client.received, /STRAY/);
      assert.equal(responsesIn(client.received, methods).rest, '');
      assert.equal(backend.requests.find(({ target }) => target === '/next')?.connection, 1, 'the 204 connection was reused');
      await waitFor(() => backend.closed.has(0), 'the balancer to close the connection of the 204', PROMPT_CLOSE);
    });
  }
});

// --- bodies delimited by the close -------------------------------------------------------

test('a close-delimited response arrives whole and is ended correctly for the client', async (t) => {
  const pieces = ['first piece;', 'x'.repeat(100_000), ';last piece'];
  const backend = await startRawBackend(t, (_seen, socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n${pieces[0]}`);
    setTimeout(() => {
      socket.write(pieces[1] ?? '');
      setTimeout(() => socket.end(pieces[2] ?? ''), 20);
    }, 20);
  });
  const balancer = await balancerFor(t, backend);

  const res = await request(`${balancer.url}/close-delimited`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), pieces.join(''));

  // On a raw connection: framed so that the client knows where it ends, and the
  // connection stays usable.
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  const raw = await exchange(client, methods, get('/close-delimited'));
  assert.equal(raw.body, pieces.join(''));
  assert.ok(raw.chunked || raw.headers.get('content-length') === String(pieces.join('').length), 'not framed for the client');
  const again = await exchange(client, methods, get('/close-delimited'));
  assert.equal(again.body, pieces.join(''));
  assert.equal(backend.accepted, 3);
});

test('a close-delimited response cut by a reset is not passed off as complete', async (t) => {
  const backend = await startRawBackend(t, (_seen, socket) => {
    socket.write('HTTP/1.1 200 OK\r\n\r\npartial', () => setTimeout(() => socket.resetAndDestroy(), 20));
  });
  const balancer = await balancerFor(t, backend);
  const res = await request(`${balancer.url}/reset`);
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text(), 'a reset close-delimited body was relayed as complete');
});

// --- bytes nobody asked for -----------------------------------------------------------

test('an unsolicited response written on an idle keep-alive connection is never delivered: the next request gets a fresh connection', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => {
    socket.write(ok(`real ${seen.index}`), () => {
      if (seen.connection === 0) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled'), 20);
    });
  });
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  const first = await exchange(client, methods, get('/one'));
  assert.equal(first.body, 'real 0');
  await waitFor(() => backend.closed.has(0), 'the balancer to close the connection that spoke out of turn', PROMPT_CLOSE);
  const second = await exchange(client, methods, get('/two'));
  assert.equal(second.body, 'real 1');
  const res = await request(`${balancer.url}/three`);
  assert.equal(await res.body.text(), 'real 2');
  assert.doesNotMatch(client.received, /smuggled/);
  assert.equal(backend.accepted, 2);
  assert.deepEqual(
    backend.requests.map(({ connection }) => connection),
    [0, 1, 1],
  );
});

test('bytes after a response in the same write never reach any client', async (t) => {
  const extras = [
    'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nsmuggled\r\n0\r\n\r\n',
    'smuggled',
  ];
  for (const extra of extras) {
    await t.test(JSON.stringify(extra), async (t) => {
      const backend = await startRawBackend(t, (seen, socket) => {
        socket.write(seen.connection === 0 ? ok('real') + extra : ok(`real ${seen.index}`));
      });
      const balancer = await balancerFor(t, backend);
      const client = await openRawClient(t, balancer.port);
      const other = await openRawClient(t, balancer.port);
      const methods: string[] = [];
      const first = await exchange(client, methods, get('/one'));
      assert.equal(first.body, 'real');
      await waitFor(() => backend.closed.has(0), 'the balancer to close the connection that sent extra bytes', PROMPT_CLOSE);
      const second = await exchange(client, methods, get('/two'));
      assert.equal(second.body, 'real 1');
      const third = await exchange(other, [], get('/three'));
      assert.equal(third.body, 'real 2');
      for (const received of [client.received, other.received]) assert.doesNotMatch(received, /smuggled/);
      assert.equal(responsesIn(client.received, methods).rest, '');
    });
  }
});

// --- keep-alive ---------------------------------------------------------------------------

test('20 sequential requests over one client connection use exactly one upstream connection', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => socket.write(ok(`r${seen.index}`)));
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  for (let i = 0; i < 20; i++) {
    const response = await exchange(client, methods, get(`/${i}`));
    assert.equal(response.status, 200);
    assert.equal(response.body, `r${i}`);
  }
  assert.equal(backend.accepted, 1);
  assert.deepEqual(
    backend.requests.map(({ onConnection }) => onConnection),
    Array.from({ length: 20 }, (_, i) => i),
  );
  // The balancer asks for keep-alive.
  assert.deepEqual(backend.requests[0]?.headers.get('connection'), ['keep-alive']);
});

test('a backend whose answers end the connection gets a new connection per request, each request succeeds, and the balancer closes each', async (t) => {
  const answers = {
    'Connection: close': (body: string) => ok(body, 'Connection: close\r\n'),
    'HTTP/1.0 without keep-alive': (body: string) => `HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    'HTTP/1.1 Connection: keep-alive, close': (body: string) => ok(body, 'Connection: keep-alive, close\r\n'),
  };
  for (const [kind, answer] of Object.entries(answers)) {
    await t.test(kind, async (t) => {
      // The backend never closes: only the balancer can.
      const backend = await startRawBackend(t, (seen, socket) => socket.write(answer(`r${seen.index}`)));
      const balancer = await balancerFor(t, backend);
      const client = await openRawClient(t, balancer.port);
      const methods: string[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await exchange(client, methods, get(`/${i}`));
        assert.equal(response.status, 200, `request ${i}`);
        assert.equal(response.body, `r${i}`, `request ${i}`);
      }
      assert.equal(backend.accepted, 5);
      assert.deepEqual(
        backend.requests.map(({ connection, onConnection }) => [connection, onConnection]),
        Array.from({ length: 5 }, (_, i) => [i, 0]),
      );
      await waitFor(() => backend.closed.size === 5, 'the balancer to close every upstream connection', PROMPT_CLOSE);
    });
  }
});

test('an HTTP/1.0 response with Connection: keep-alive keeps its connection', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => {
    const body = `r${seen.index}`;
    socket.write(`HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  for (let i = 0; i < 5; i++) assert.equal((await exchange(client, methods, get(`/${i}`))).body, `r${i}`);
  assert.equal(backend.accepted, 1);
});

test("the upstream's Keep-Alive: timeout=1 is honoured: after 2 s idle the next request still succeeds, never on a connection idle past the backend's timeout", async (t) => {
  // A backend that considers a connection dead after 1 s idle, without telling (no FIN:
  // as if it were lost): a request on such a connection is reset, unanswered.
  const backend = await startRawBackend(t, (seen, socket) => {
    if (seen.idleMs > 1_000) return socket.resetAndDestroy();
    socket.write(ok(`r${seen.index}`, 'Keep-Alive: timeout=1\r\n'));
  });
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  assert.equal((await exchange(client, methods, get('/first'))).body, 'r0');
  // A generous idle wait, well past the backend's timeout (not a timing threshold).
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const second = await exchange(client, methods, get('/second'));
  assert.equal(second.status, 200, `the request after the idle time failed: ${second.body}`);
  assert.equal(second.body, 'r1');
  assert.deepEqual(
    backend.requests.map(({ target, idleMs }) => [target, idleMs > 1_000]),
    [
      ['/first', false],
      ['/second', false],
    ],
    'a request was written on a connection idle past Keep-Alive: timeout=1',
  );
});

test('Keep-Alive: timeout=5 lets the connection be reused for the next request', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => socket.write(ok(`r${seen.index}`, 'Keep-Alive: timeout=5, max=100\r\n')));
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  for (let i = 0; i < 3; i++) assert.equal((await exchange(client, methods, get(`/${i}`))).body, `r${i}`);
  assert.equal(backend.accepted, 1);
});

// --- request framing toward the backend --------------------------------------------------

test('a chunked upload of unknown length reaches the backend chunked, ended by 0\\r\\n\\r\\n', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => socket.write(ok(`got ${seen.body.length}`)));
  const balancer = await balancerFor(t, backend);

  // A raw client sending chunks in separate writes.
  const client = await openRawClient(t, balancer.port);
  client.write('POST /raw HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  await waitFor(() => backend.accepted === 1, 'the upload to start upstream');
  client.write('6\r\n world\r\n0\r\n\r\n');
  const answer = await client.readUntil((text) => responsesIn(text, ['POST']).responses.length === 1, 'the answer to the upload');
  assert.equal(responsesIn(answer, ['POST']).responses[0]?.body, 'got 11');

  // And through undici, from a stream.
  const payload = Buffer.alloc(200_000, 'abcdefgh');
  const res = await request(`${balancer.url}/stream`, {
    method: 'PUT',
    body: Readable.from([payload.subarray(0, 1), payload.subarray(1, 70_000), payload.subarray(70_000)]),
  });
  assert.equal(await within(res.body.text(), 'the answer to the streamed upload'), `got ${payload.length}`);

  for (const seen of backend.requests) {
    assert.deepEqual(seen.headers.get('transfer-encoding'), ['chunked'], seen.target);
    assert.equal(seen.headers.get('content-length'), undefined, seen.target);
    assert.ok(seen.rawBody.subarray(-5).equals(Buffer.from('0\r\n\r\n')), `${seen.target}: the body does not end with the last chunk`);
  }
  assert.equal(backend.requests[0]?.body.toString(), 'hello world');
  assert.ok(backend.requests[1]?.body.equals(payload), 'the streamed upload arrived altered');
});

test('a POST with no body reaches the backend with content-length: 0, and no Transfer-Encoding', async (t) => {
  const backend = await startRawBackend(t, (seen, socket) => socket.write(ok(`got ${seen.method}`)));
  const balancer = await balancerFor(t, backend);
  const client = await openRawClient(t, balancer.port);
  const methods: string[] = [];
  const requests = [
    'POST /none HTTP/1.1\r\nHost: h\r\n\r\n',
    'POST /zero HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n',
    'PUT /none HTTP/1.1\r\nHost: h\r\n\r\n',
  ];
  for (const text of requests) assert.equal((await exchange(client, methods, text)).status, 200);
  assert.equal(backend.requests.length, requests.length);
  for (const seen of backend.requests) {
    assert.deepEqual(seen.headers.get('content-length'), ['0'], `${seen.method} ${seen.target}: ${seen.head}`);
    assert.equal(seen.headers.get('transfer-encoding'), undefined, `${seen.method} ${seen.target}`);
    assert.equal(seen.rawBody.length, 0);
  }
  // A GET without a body says nothing about one.
  await exchange(client, methods, get('/get'));
  const last = backend.requests.at(-1);
  assert.equal(last?.headers.get('content-length'), undefined);
  assert.equal(last?.headers.get('transfer-encoding'), undefined);
  // All on one keep-alive connection.
  assert.equal(backend.accepted, 1);
});
