import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { PeerAnswer, PeerCommand } from '../fixtures/bulk-peer.ts';
import { deadPort, openRawClient, parseRawResponse, rawExchange, startTestBalancer, startBackend, statusOf, waitFor, within, type TestBackend } from '../helpers.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A test upstream behind a real balancer with two listener threads. */
async function proxied(t: TestContext, handler: Handler) {
  const upstream = await startBackend(t, handler);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', upstream.origin]);
  return { upstream, balancer };
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hashes and counts a request body as it arrives, then calls `done`. */
function readBody(req: IncomingMessage, done: (body: { bytes: number; sha256: string }) => void): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => done({ bytes, sha256: hash.digest('hex') }));
}

const MiB = 1024 * 1024;

/** A GET through node:http, to see the response's raw header lines and status message. */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ res, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function rawHeaderValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) values.push(rawHeaders[i + 1] ?? '');
  return values;
}

function rawHeaderNames(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

function lastReceived(upstream: TestBackend): TestBackend['received'][number] {
  const last = upstream.received.at(-1);
  assert.ok(last, 'the upstream received no request');
  return last;
}

// --- bodies, every method ---------------------------------------------------------------

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
const WITH_BODY = new Set<string>(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

test('every method relays request and response bodies byte for byte, with Content-Length and chunked framing both ways', async (t) => {
  const download = randomBytes(300_000);
  const { upstream, balancer } = await proxied(t, (req, res) => {
    readBody(req, ({ bytes, sha256: digest }) => {
      res.setHeader('x-received-bytes', String(bytes));
      res.setHeader('x-received-sha256', digest);
      if (req.headers['x-download'] === 'chunked') {
        // No Content-Length: Node frames it chunked, in three writes.
        res.write(download.subarray(0, 1));
        res.write(download.subarray(1, 150_000));
        res.end(download.subarray(150_000));
      } else {
        res.setHeader('content-length', String(download.length));
        res.end(download);
      }
    });
  });

  const upload = randomBytes(200_000);
  for (const method of METHODS) {
    for (const uploadMode of WITH_BODY.has(method) ? (['length', 'chunked'] as const) : (['none'] as const)) {
      for (const downloadMode of ['length', 'chunked'] as const) {
        const what = `${method} upload ${uploadMode}, download ${downloadMode}`;
        const body =
          uploadMode === 'length'
            ? upload
            : uploadMode === 'chunked'
              ? Readable.from([upload.subarray(0, 1), upload.subarray(1, 70_000), upload.subarray(70_000)])
              : undefined;
        const res = await request(`${balancer.url}/m/${method}`, { method, body, headers: { 'x-download': downloadMode } });
        const received = await res.body.arrayBuffer();
        assert.equal(res.statusCode, 200, what);

        const sent = uploadMode === 'none' ? Buffer.alloc(0) : upload;
        assert.equal(res.headers['x-received-bytes'], String(sent.length), what);
        assert.equal(res.headers['x-received-sha256'], sha256(sent), what);
        const seen = lastReceived(upstream);
        assert.equal(seen.method, method, what);
        if (uploadMode === 'length') {
          assert.equal(seen.headers['content-length'], String(upload.length), what);
          assert.equal(seen.headers['transfer-encoding'], undefined, what);
        } else if (uploadMode === 'chunked') {
          assert.equal(seen.headers['transfer-encoding'], 'chunked', what);
          assert.equal(seen.headers['content-length'], undefined, what);
        }

        if (method === 'HEAD') {
          assert.equal(received.byteLength, 0, what);
        } else {
          assert.equal(received.byteLength, download.length, what);
          assert.equal(sha256(Buffer.from(received)), sha256(download), what);
        }
        if (downloadMode === 'length') {
          assert.equal(res.headers['content-length'], String(download.length), what);
          assert.equal(res.headers['transfer-encoding'], undefined, what);
        } else if (method !== 'HEAD') {
          assert.equal(res.headers['transfer-encoding'], 'chunked', what);
          assert.equal(res.headers['content-length'], undefined, what);
        }
      }
    }
  }
});

// --- streaming ----------------------------------------------------------------------

/**
 * Large enough to tell buffering from garbage: relaying allocates a buffer per chunk, and
 * about 60 MiB of those pile up before the garbage collector frees them, whatever the
 * body size; a relay that buffered the body would grow by the body itself.
 */
const LARGE = 256 * MiB;
const PEER = fileURLToPath(new URL('../fixtures/bulk-peer.ts', import.meta.url));

/**
 * The client and upstream of a large transfer, in a child process (test/fixtures/bulk-peer.ts):
 * generating and hashing the body there keeps this process's memory the balancer's own.
 */
function startPeer(t: TestContext): (command: PeerCommand) => Promise<PeerAnswer & { ok: true }> {
  const child = fork(PEER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.connected) child.disconnect();
    await within(exited, 'the bulk peer to exit').catch(async () => {
      child.kill('SIGKILL');
      await exited;
    });
  });
  return async (command) => {
    const answer = once(child, 'message').then(([message]) => message as PeerAnswer);
    child.send(command);
    const result = await within(answer, `the bulk peer to ${command.cmd}`, 30_000);
    if (!result.ok) assert.fail(`bulk peer ${command.cmd} failed: ${result.error}`);
    return result;
  };
}

/** Samples this process's resident set size until stopped; reports the largest growth seen. */
function rssWatch(): { stop: () => number } {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, 5);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak - baseline;
    },
  };
}

test(`a ${LARGE / MiB} MiB upload streams through: every byte arrives and the balancer's memory does not grow with the body`, async (t) => {
  const peer = startPeer(t);
  const { port } = await peer({ cmd: 'serve-sink' });
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', `http://127.0.0.1:${port}`]);
  // Warm the connection pools first, so the baseline holds everything but the body.
  await peer({ cmd: 'upload', url: `${balancer.url}/warm`, bytes: MiB });

  const memory = rssWatch();
  const answer = await peer({ cmd: 'upload', url: `${balancer.url}/upload`, bytes: LARGE });
  const growth = memory.stop();
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.upstream, { bytes: LARGE, sha256: answer.expectedSha256 });
  t.diagnostic(`balancer process rss grew by ${(growth / MiB).toFixed(1)} MiB for a ${LARGE / MiB} MiB body`);
  assert.ok(growth < LARGE / 2, `rss grew by ${(growth / MiB).toFixed(1)} MiB: the body was buffered somewhere`);
});

test(`a ${LARGE / MiB} MiB download streams through: every byte arrives and the balancer's memory does not grow with the body`, async (t) => {
  const peer = startPeer(t);
  const { port } = await peer({ cmd: 'serve-source' });
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', `http://127.0.0.1:${port}`]);
  await peer({ cmd: 'download', url: `${balancer.url}/bytes/${MiB}` });

  const memory = rssWatch();
  const answer = await peer({ cmd: 'download', url: `${balancer.url}/bytes/${LARGE}` });
  const growth = memory.stop();
  assert.equal(answer.status, 200);
  assert.equal(answer.bytes, LARGE);
  assert.equal(answer.sha256, answer.expectedSha256);
  t.diagnostic(`balancer process rss grew by ${(growth / MiB).toFixed(1)} MiB for a ${LARGE / MiB} MiB body`);
  assert.ok(growth < LARGE / 2, `rss grew by ${(growth / MiB).toFixed(1)} MiB: the body was buffered somewhere`);
});

test('the first bytes of a response reach the client while the upstream is still sending', async (t) => {
  const clientGotFirst = Promise.withResolvers<void>();
  let upstreamEnded = false;
  const { balancer } = await proxied(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first|');
    // The upstream finishes only once the client has its first bytes. A relay that
    // buffered the response would hold them back until this wait gives up.
    void within(clientGotFirst.promise, 'the client to confirm the first bytes')
      .catch(() => {})
      .then(() => {
        upstreamEnded = true;
        res.end('second');
      });
  });

  const res = await request(`${balancer.url}/stream`);
  const chunks = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let received = '';
  while (received.length < 'first|'.length) {
    const next = await chunks.next();
    if (next.done) break;
    received += Buffer.from(next.value as Buffer).toString();
  }
  assert.equal(upstreamEnded, false, 'the first bytes arrived only after the upstream had finished: the response was buffered');
  assert.equal(received, 'first|');
  clientGotFirst.resolve();
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) received += Buffer.from(next.value as Buffer).toString();
  assert.equal(received, 'first|second');
});

test('the first bytes of a request body reach the upstream while the client is still sending', async (t) => {
  const upstreamGotFirst = Promise.withResolvers<string>();
  const { balancer } = await proxied(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      upstreamGotFirst.resolve(body);
    });
    req.on('end', () => res.end(body));
  });

  const upload = new PassThrough();
  const response = request(`${balancer.url}/upload`, { method: 'POST', body: upload });
  response.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  upload.write('first|');
  // A relay that buffered the request body would pass nothing on until the client ended it.
  assert.equal(await within(upstreamGotFirst.promise, 'the first request bytes to reach the upstream'), 'first|');
  upload.end('second');
  const res = await response;
  assert.equal(await res.body.text(), 'first|second');
});

// --- responses without a body -------------------------------------------------------

test('HEAD, 204 and 304 responses carry no body: the next pipelined response follows the head at once', async (t) => {
  const { balancer } = await proxied(t, (req, res) => {
    if (req.url === '/after') return res.end('after');
    if (req.url === '/204') return res.writeHead(204, { 'x-kind': 'no-content' }).end();
    if (req.url === '/304') return res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' }).end();
    if (req.url === '/head-chunked') {
      res.writeHead(200);
      return res.end('would be chunked');
    }
    res.writeHead(200, { 'content-length': '11', 'content-type': 'text/plain' });
    res.end('hello world');
  });

  const cases = [
    { method: 'HEAD', path: '/head', status: 200, header: ['content-length', '11'] },
    { method: 'HEAD', path: '/head-chunked', status: 200, header: null },
    { method: 'GET', path: '/204', status: 204, header: ['x-kind', 'no-content'] },
    { method: 'GET', path: '/304', status: 304, header: ['etag', '"v1"'] },
  ] as const;
  for (const { method, path, status, header } of cases) {
    const { response, timedOut } = await rawExchange(
      balancer.port,
      `${method} ${path} HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(timedOut, false, `${method} ${path}: ${JSON.stringify(response)}`);
    assert.equal(statusOf(response), status, `${method} ${path}: ${JSON.stringify(response)}`);
    const first = parseRawResponse(response);
    if (header) assert.equal(first.headers.get(header[0]), header[1], `${method} ${path}`);
    if (status !== 200) assert.equal(first.headers.get('transfer-encoding'), undefined, `${method} ${path}`);
    // Whatever follows the first head is the second response, starting at its first byte.
    assert.match(first.body, /^HTTP\/1\.1 200 OK\r\n/, `${method} ${path}: bytes between the two responses: ${JSON.stringify(first.body)}`);
    assert.ok(first.body.endsWith('\r\n\r\nafter'), `${method} ${path}: ${JSON.stringify(first.body)}`);
  }
});

// --- the request target ---------------------------------------------------------------

test('the path and query reach the upstream byte for byte: no decoding, no normalising', async (t) => {
  const { upstream, balancer } = await proxied(t, (_req, res) => res.end('ok'));
  const targets = [
    '/a%2Fb/../c?x=%E2%82%AC&y=1',
    '/%E6%97%A5%E6%9C%AC/caf%C3%A9?q=%F0%9F%98%80',
    '/%e2%82%ac/lower%2fcase%3F?%26=%3D',
    '//double//slashes//',
    '/./dot/%2e%2e/./x/..',
    '/semi;param=1/p?a=1&a=2&b&&c=',
    '/plus+space%20?a+b=c%2Bd',
    "/sub-delims!$&'()*+,;=:@~",
    '/q?',
    '/?only=query',
    '/%00%25%7F',
  ];
  for (const target of targets) {
    const { response } = await rawExchange(balancer.port, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(response), 200, `${target}: ${JSON.stringify(response)}`);
    assert.equal(lastReceived(upstream).url, target);
  }
  assert.equal(upstream.received.length, targets.length);
});

// --- headers ------------------------------------------------------------------------

test('every response header is relayed, repeated ones (Set-Cookie) as separate header lines in order', async (t) => {
  const cookies = ['session=abc; Path=/; HttpOnly', 'theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'empty='];
  const { balancer } = await proxied(t, (_req, res) => {
    res.statusMessage = 'Fine Indeed';
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('cache-control', 'private, max-age=0');
    res.setHeader('etag', 'W/"abc"');
    res.setHeader('last-modified', 'Tue, 24 Nov 2026 10:00:00 GMT');
    res.setHeader('location', '/elsewhere?x=%20');
    res.setHeader('set-cookie', cookies);
    res.setHeader('x-multi', ['one', 'two, three']);
    res.setHeader('link', '</a>; rel=preload, </b>; rel=preload');
    res.setHeader('X-Custom-Case', 'Value With Spaces');
    res.setHeader('x-empty', '');
    res.end('{}');
  });

  const { res, body } = await httpGet(`${balancer.url}/headers`);
  assert.equal(body, '{}');
  assert.equal(res.statusCode, 200);
  assert.equal(res.statusMessage, 'Fine Indeed');
  assert.deepEqual(rawHeaderValues(res.rawHeaders, 'set-cookie'), cookies);
  assert.deepEqual(rawHeaderValues(res.rawHeaders, 'x-multi'), ['one', 'two, three']);
  const single: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'private, max-age=0',
    etag: 'W/"abc"',
    'last-modified': 'Tue, 24 Nov 2026 10:00:00 GMT',
    location: '/elsewhere?x=%20',
    link: '</a>; rel=preload, </b>; rel=preload',
    'x-custom-case': 'Value With Spaces',
    'x-empty': '',
    'content-length': '2',
  };
  for (const [name, value] of Object.entries(single)) assert.deepEqual(rawHeaderValues(res.rawHeaders, name), [value], name);
});

test('hop-by-hop request headers are removed: Connection, the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade', async (t) => {
  const { upstream, balancer } = await proxied(t, (_req, res) => res.end('ok'));
  const { response } = await rawExchange(
    balancer.port,
    'GET /hop HTTP/1.1\r\n' +
      'Host: h\r\n' +
      'Connection: X-Secret, close, X-Other-Secret\r\n' +
      'X-Secret: 1\r\n' +
      'X-Other-Secret: 2\r\n' +
      'Keep-Alive: timeout=99\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-Checksum\r\n' +
      'Upgrade: h2c\r\n' +
      'X-End-To-End: kept\r\n' +
      'Accept: */*\r\n\r\n',
  );
  assert.equal(statusOf(response), 200, response);
  const { rawHeaders } = lastReceived(upstream);
  const names = rawHeaderNames(rawHeaders);
  for (const name of ['x-secret', 'x-other-secret', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
    assert.ok(!names.includes(name), `${name} reached the upstream: ${JSON.stringify(rawHeaders)}`);
  }
  // undici may announce its own keep-alive; the client's Connection tokens must not travel.
  for (const value of rawHeaderValues(rawHeaders, 'connection')) assert.equal(value.toLowerCase(), 'keep-alive');
  assert.deepEqual(rawHeaderValues(rawHeaders, 'x-end-to-end'), ['kept']);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'accept'), ['*/*']);
  // End-to-end header names keep the client's spelling.
  assert.ok(rawHeaders.includes('X-End-To-End'), JSON.stringify(rawHeaders));
});

test('a chunked request reaches the upstream with one framing of its own: the client\'s Transfer-Encoding is not copied', async (t) => {
  let body = '';
  const { upstream, balancer } = await proxied(t, (req, res) => {
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => res.end('ok'));
  });
  const { response } = await rawExchange(
    balancer.port,
    'POST /te HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  );
  assert.equal(statusOf(response), 200, response);
  assert.equal(body, 'hello world');
  const { rawHeaders } = lastReceived(upstream);
  const framing = [...rawHeaderValues(rawHeaders, 'transfer-encoding'), ...rawHeaderValues(rawHeaders, 'content-length')];
  assert.equal(framing.length, 1, `exactly one framing header upstream: ${JSON.stringify(rawHeaders)}`);
});

test('hop-by-hop response headers are removed and the upstream\'s Transfer-Encoding is not leaked', async (t) => {
  const { balancer } = await proxied(t, (_req, res) => {
    res.setHeader('connection', 'keep-alive, X-Up-Secret');
    res.setHeader('x-up-secret', 'hidden');
    res.setHeader('keep-alive', 'timeout=99, max=7');
    res.setHeader('proxy-connection', 'keep-alive');
    res.setHeader('upgrade', 'h2c');
    res.setHeader('te', 'trailers');
    res.setHeader('trailer', 'X-Checksum');
    res.setHeader('x-end-to-end', 'kept');
    res.write('chunk one, ');
    res.end('chunk two');
  });
  const { response } = await rawExchange(balancer.port, 'GET /hop HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  const { status, body } = parseRawResponse(response);
  assert.equal(status, 200, response);
  const head = response.slice(0, response.indexOf('\r\n\r\n')).toLowerCase();
  for (const name of ['x-up-secret', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']) {
    assert.doesNotMatch(head, new RegExp(`\\r\\n${name}:`), `${name} reached the client:\n${head}`);
  }
  assert.deepEqual(head.match(/\r\nconnection: .*/g), ['\r\nconnection: close'], head);
  assert.deepEqual(head.match(/\r\ntransfer-encoding: .*/g), ['\r\ntransfer-encoding: chunked'], head);
  assert.doesNotMatch(head, /\r\ncontent-length:/, head);
  assert.match(head, /\r\nx-end-to-end: kept/, head);
  // The body is framed once, by the balancer: de-chunked it is exactly what the upstream wrote.
  assert.equal(dechunk(body), 'chunk one, chunk two');
});

/** The payload of a complete chunked body; throws if the body is not cleanly chunked. */
function dechunk(body: string): string {
  let rest = body;
  let out = '';
  for (;;) {
    const line = /^([0-9a-f]+)\r\n/i.exec(rest);
    assert.ok(line?.[1], `not a chunk: ${JSON.stringify(rest)}`);
    const size = parseInt(line[1], 16);
    rest = rest.slice(line[0].length);
    if (size === 0) {
      assert.equal(rest, '\r\n', `after the last chunk: ${JSON.stringify(rest)}`);
      return out;
    }
    out += rest.slice(0, size);
    assert.equal(rest.slice(size, size + 2), '\r\n');
    rest = rest.slice(size + 2);
  }
}

test('forwarding headers: X-Forwarded-For appended, X-Forwarded-Proto and X-Forwarded-Host set, Via appended, Host unchanged', async (t) => {
  const { upstream, balancer } = await proxied(t, (_req, res) => {
    res.setHeader('via', '1.1 origin-cache');
    res.end('ok');
  });

  const { response } = await rawExchange(
    balancer.port,
    'GET /fwd HTTP/1.1\r\n' +
      'Host: App.Example:8443\r\n' +
      'X-Forwarded-For: 203.0.113.7\r\n' +
      'X-Forwarded-For: 198.51.100.2, 192.0.2.1\r\n' +
      'X-Forwarded-Proto: https\r\n' +
      'X-Forwarded-Host: spoofed.example\r\n' +
      'Via: 1.0 fred\r\n' +
      'Connection: close\r\n\r\n',
  );
  assert.equal(statusOf(response), 200, response);
  const { rawHeaders } = lastReceived(upstream);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'host'), ['App.Example:8443']);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'x-forwarded-for'), ['203.0.113.7, 198.51.100.2, 192.0.2.1, 127.0.0.1']);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'x-forwarded-proto'), ['http']);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'x-forwarded-host'), ['App.Example:8443']);
  assert.deepEqual(rawHeaderValues(rawHeaders, 'via'), ['1.0 fred, 1.1 switchyard']);
  assert.equal(parseRawResponse(response).headers.get('via'), '1.1 origin-cache, 1.1 switchyard');

  // Without any forwarding headers from the client, the balancer adds its own.
  const plain = await rawExchange(balancer.port, 'GET /plain HTTP/1.0\r\nHost: h\r\n\r\n');
  assert.equal(statusOf(plain.response), 200, plain.response);
  const second = lastReceived(upstream);
  assert.equal(second.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(second.headers['x-forwarded-proto'], 'http');
  assert.equal(second.headers['x-forwarded-host'], 'h');
  assert.equal(second.headers['via'], '1.0 switchyard', 'Via names the protocol version the client used');
});

// --- failures -----------------------------------------------------------------------

test('a backend that refuses connections gets a 502 with a one-line body naming it, after every try; each failure is counted', async (t) => {
  const port = await deadPort();
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend', `http://127.0.0.1:${port}`]);
  const res = await request(`${balancer.url}/x`);
  assert.equal(res.statusCode, 502);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.equal(await res.body.text(), `502 Bad Gateway: backend 127.0.0.1:${port} refused the connection (ECONNREFUSED)\n`);
  await waitFor(() => balancer.state.load(0, 'inFlight') === 0, 'the in-flight gauge to return to 0');
  // Nothing was sent, so the request was tried again (--retries 2); with one backend,
  // "elsewhere" is that same backend, and it cannot be ejected: it is the last one.
  assert.deepEqual(
    (({ started, failures, inFlight, ejection }) => ({ started, failures, inFlight, ejection }))(balancer.state.snapshot(0)),
    { started: 3, failures: 3, inFlight: 0, ejection: 0 },
  );
});

test('an upstream that drops the connection before any response header gets the client a 502', async (t) => {
  const { upstream, balancer } = await proxied(t, (req) => req.socket.destroy());

  const post = await request(`${balancer.url}/post`, { method: 'POST', body: 'payload' });
  assert.equal(post.statusCode, 502);
  assert.match(await post.body.text(), /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ [^\n]+\n$/);

  const get = await request(`${balancer.url}/get`);
  assert.equal(get.statusCode, 502);
  assert.match(await get.body.text(), /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ [^\n]+\n$/);
  // The POST reached the backend: it is never sent again. The GET is idempotent: it is
  // retried (--retries 2), and with one backend the retries go to that same backend.
  assert.equal(upstream.received.filter((r) => r.url === '/post').length, 1, 'the POST reached the upstream once');
  assert.equal(upstream.received.filter((r) => r.url === '/get').length, 3, 'the GET was tried three times');

  await waitFor(() => balancer.state.load(0, 'inFlight') === 0, 'the in-flight gauge to return to 0');
  // Every attempt that failed is counted.
  assert.deepEqual(
    (({ started, failures }) => ({ started, failures }))(balancer.state.snapshot(0)),
    { started: 4, failures: 4 },
  );
});

test('an upstream that dies inside a Content-Length body: the client gets a short body and a closed connection, never a complete one', async (t) => {
  const { balancer } = await proxied(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('x'.repeat(100), () => res.socket?.destroy());
  });

  const { response, timedOut } = await rawExchange(balancer.port, 'GET /cut HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(timedOut, false, 'the balancer left the client waiting for the rest of the body');
  const { status, headers, body } = parseRawResponse(response);
  assert.equal(status, 200);
  assert.equal(headers.get('content-length'), '1000');
  assert.ok(body.length < 1000, `the client received a complete ${body.length}-byte body`);

  const res = await request(`${balancer.url}/cut`);
  await assert.rejects(res.body.text(), 'undici accepted the truncated body as complete');

  await waitFor(() => balancer.state.snapshot(0).failures === 2 && balancer.state.load(0, 'inFlight') === 0, 'two failures counted and in-flight back to 0');
});

test('an upstream that dies inside a chunked body: the client never sees the terminating chunk', async (t) => {
  const { balancer } = await proxied(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial', () => res.socket?.destroy());
  });

  const { response, timedOut } = await rawExchange(balancer.port, 'GET /cut HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(timedOut, false, 'the balancer left the client waiting for the rest of the body');
  const { status, headers, body } = parseRawResponse(response);
  assert.equal(status, 200);
  assert.equal(headers.get('transfer-encoding'), 'chunked');
  assert.doesNotMatch(body, /(^|\r\n)0\r\n\r\n$/, `the truncated body was terminated as if complete: ${JSON.stringify(body)}`);

  const res = await request(`${balancer.url}/cut`);
  await assert.rejects(res.body.text(), 'undici accepted the truncated body as complete');

  await waitFor(() => balancer.state.snapshot(0).failures === 2 && balancer.state.load(0, 'inFlight') === 0, 'two failures counted and in-flight back to 0');
});

// --- clients that go away -----------------------------------------------------------

test('a client that disconnects mid-response aborts the upstream request and releases the in-flight count', async (t) => {
  const upstreamClosed = Promise.withResolvers<boolean>();
  const { balancer } = await proxied(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-chunk');
    // Never ends on its own: only an abort from the balancer closes this response.
    res.on('close', () => upstreamClosed.resolve(res.writableEnded));
  });

  const client = await openRawClient(t, balancer.port);
  client.write('GET /long HTTP/1.1\r\nHost: h\r\n\r\n');
  await client.readUntil((received) => received.includes('first-chunk'), 'the first chunk to reach the client');
  assert.equal(balancer.state.load(0, 'inFlight'), 1);
  client.destroy();

  assert.equal(await within(upstreamClosed.promise, 'the upstream response to be aborted'), false, 'the upstream response had ended');
  await waitFor(() => balancer.state.load(0, 'inFlight') === 0, 'the in-flight gauge to return to 0');
  assert.equal(balancer.state.snapshot(0).failures, 0, 'a client leaving is not a backend failure');
});

test('a client that disconnects mid-upload aborts the upstream request and releases the in-flight count', async (t) => {
  const upstreamGotData = Promise.withResolvers<void>();
  const upstreamAborted = Promise.withResolvers<boolean>();
  const { balancer } = await proxied(t, (req, res) => {
    req.once('data', () => upstreamGotData.resolve());
    req.resume();
    res.on('close', () => upstreamAborted.resolve(req.complete));
  });

  const client = await openRawClient(t, balancer.port);
  client.write(`POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${10 * MiB}\r\n\r\n`);
  client.write(Buffer.alloc(64 * 1024, 0x61));
  await within(upstreamGotData.promise, 'the first body bytes to reach the upstream');
  client.destroy();

  assert.equal(await within(upstreamAborted.promise, 'the upstream request to be aborted'), false, 'the upstream request body was complete');
  await waitFor(() => balancer.state.load(0, 'inFlight') === 0, 'the in-flight gauge to return to 0');
  assert.equal(balancer.state.snapshot(0).failures, 0, 'a client leaving is not a backend failure');
});

// --- not an open proxy ---------------------------------------------------------------

/** A TCP server that counts connections: nothing the balancer does may ever reach it. */
async function startDecoy(t: TestContext): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

test('an absolute-form target naming another host is refused with 421 and reaches nothing', async (t) => {
  const decoy = await startDecoy(t);
  const { upstream, balancer } = await proxied(t, (_req, res) => res.end('ok'));
  for (const target of [`http://127.0.0.1:${decoy.port}/secret`, 'http://other.example/', `https://127.0.0.1:${decoy.port}/`]) {
    const { response } = await rawExchange(balancer.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${balancer.port}\r\n\r\n`);
    assert.equal(statusOf(response), 421, `${target}: ${JSON.stringify(response)}`);
    assert.match(parseRawResponse(response).body, /^421 Misdirected Request: [^\n]+\n$/);
  }
  assert.equal(upstream.received.length, 0);
  assert.equal(decoy.connections(), 0);
});

test('an absolute-form target naming the Host it is sent with goes, as a path, to the configured upstream only', async (t) => {
  const decoy = await startDecoy(t);
  const { upstream, balancer } = await proxied(t, (_req, res) => res.end('ok'));
  for (const authority of [`127.0.0.1:${decoy.port}`, 'other.example']) {
    const { response } = await rawExchange(balancer.port, `GET http://${authority}/p?q=1 HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(response), 200, `${authority}: ${JSON.stringify(response)}`);
    const seen = lastReceived(upstream);
    assert.equal(seen.url, '/p?q=1');
    assert.equal(seen.headers.host, authority);
  }
  assert.equal(upstream.received.length, 2);
  assert.equal(decoy.connections(), 0);
});

test('CONNECT is refused with 405 and opens no tunnel', async (t) => {
  const decoy = await startDecoy(t);
  const { upstream, balancer } = await proxied(t, (_req, res) => res.end('ok'));
  for (const authority of [`127.0.0.1:${decoy.port}`, 'other.example:443']) {
    const { response, timedOut } = await rawExchange(balancer.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    assert.equal(timedOut, false);
    assert.equal(statusOf(response), 405, `${authority}: ${JSON.stringify(response)}`);
  }
  assert.equal(upstream.received.length, 0);
  assert.equal(decoy.connections(), 0);
});
