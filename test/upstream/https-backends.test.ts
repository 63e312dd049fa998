/**
 * HTTPS backends (`--backend https://...`): verified by default against the trusted
 * authorities, named by SNI, kept alive like plain ones; a certificate that does not
 * verify is a 502 naming why, and the backend never sees the request.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { parseCli } from '../../src/config/cli.ts';
import { makeCertificates, type KeyPair } from '../fixtures/certificates.ts';
import { listenForTest, startTestBalancer, usageRefusal } from '../helpers.ts';

interface HttpsBackend {
  readonly origin: string;
  /** Per request: the SNI name the client sent (false when none) and the TLS connection's number. */
  readonly seen: Array<{ url: string; servername: string | false | null; connection: number; body: string }>;
  connections: number;
}

async function startHttpsBackend(t: TestContext, pair: KeyPair, host = 'localhost'): Promise<HttpsBackend> {
  const backend: HttpsBackend = { origin: '', seen: [], connections: 0 };
  const numbers = new WeakMap<object, number>();
  const server: Server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      backend.seen.push({ url: req.url ?? '', servername: socket.servername, connection: numbers.get(socket) ?? -1, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`secure ${req.method} ${req.url}`);
    });
  });
  server.on('secureConnection', (socket) => numbers.set(socket, backend.connections++));
  const port = await listenForTest(t, server);
  return Object.assign(backend, { origin: `https://${host}:${port}` });
}

test('an https backend signed by --backend-ca: requests and bodies go through, over one kept-alive TLS connection named by SNI', async (t) => {
  const certs = makeCertificates(t);
  const backend = await startHttpsBackend(t, certs.localhost);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--backend-ca', certs.caFile]);
  for (let i = 0; i < 10; i++) {
    const res = await request(`${balancer.url}/n/${i}`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), `secure GET /n/${i}`);
  }
  const upload = 'x'.repeat(200_000);
  const posted = await request(`${balancer.url}/upload`, { method: 'POST', body: upload });
  assert.equal(posted.statusCode, 200);
  await posted.body.text();
  assert.equal(backend.seen.length, 11);
  assert.equal(backend.seen.at(-1)?.body, upload, 'the streamed body arrived whole over TLS');
  assert.ok(backend.seen.every(({ servername }) => servername === 'localhost'), `SNI: ${JSON.stringify(backend.seen.map((s) => s.servername))}`);
  assert.equal(backend.connections, 1, 'sequential requests reuse one TLS connection');
});

test('a backend whose certificate names another host gets the client a 502 naming why; the backend sees no request', async (t) => {
  const certs = makeCertificates(t);
  const backend = await startHttpsBackend(t, certs.otherName);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--retries', '0', '--backend', backend.origin, '--backend-ca', certs.caFile]);
  const res = await request(`${balancer.url}/secret`);
  assert.equal(res.statusCode, 502);
  const body = await res.body.text();
  assert.match(body, /^502 Bad Gateway: backend localhost:\d+ presented a certificate for another name \(ERR_TLS_CERT_ALTNAME_INVALID\)\n$/);
  assert.equal(res.headers['x-switchyard-error'], 'BACKEND_FAILED');
  assert.deepEqual(backend.seen, [], 'no request is written on a connection that failed verification');
});

test('without --backend-ca a private authority is not trusted (502), and a self-signed certificate neither', async (t) => {
  const certs = makeCertificates(t);
  const privateCa = await startHttpsBackend(t, certs.localhost);
  const selfSigned = await startHttpsBackend(t, certs.selfSigned);
  for (const [backend, why] of [
    [privateCa, /presented a certificate from an untrusted authority \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/],
    [selfSigned, /presented a self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)/],
  ] as const) {
    const balancer = await startTestBalancer(t, ['--threads', '1', '--retries', '0', '--backend', backend.origin]);
    const res = await request(`${balancer.url}/`);
    assert.equal(res.statusCode, 502);
    assert.match(await res.body.text(), why);
    assert.deepEqual(backend.seen, []);
  }
});

test('--backend-insecure relays to a backend whatever its certificate, and says so at start', async (t) => {
  const certs = makeCertificates(t);
  const backend = await startHttpsBackend(t, certs.otherName);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--backend-insecure']);
  const res = await request(`${balancer.url}/anyway`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'secure GET /anyway');
  assert.ok(
    balancer.logged.some((line) => line === '--backend-insecure: the certificates of https backends are not verified'),
    balancer.logged.join('\n'),
  );
});

test('an https backend is probed over TLS by --health-path and marked up; an unverifiable one is marked down', async (t) => {
  const certs = makeCertificates(t);
  const good = await startHttpsBackend(t, certs.localhost);
  const wrong = await startHttpsBackend(t, certs.otherName);
  const balancer = await startTestBalancer(t, [
    '--threads', '1', '--backend', good.origin, '--backend', wrong.origin, '--backend-ca', certs.caFile,
    '--health-path', '/health', '--health-interval', '100ms', '--health-fall', '1', '--health-rise', '1',
  ]);
  // Every request lands on the good one once the wrong one's probe has failed.
  for (let tries = 0; ; tries++) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => request(`${balancer.url}/`).then((res) => res.statusCode)));
    if (answers.every((status) => status === 200)) break;
    assert.ok(tries < 100, `still failing after ${tries} rounds: ${answers.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(good.seen.some(({ url }) => url === '/health'), 'the prober reached the good backend over TLS');
  assert.ok(balancer.logged.some((line) => line.includes(wrong.origin) && /down/.test(line)), balancer.logged.join('\n'));
});

test('--backend takes https URLs; --backend-ca refuses an unreadable or non-PEM file, and --backend-insecure beside it', (t) => {
  const certs = makeCertificates(t);
  const refusal = usageRefusal;
  const parsed = parseCli(['--admin-port', 'off', '--backend', 'https://localhost:8443', '--backend-ca', certs.caFile]);
  assert.equal(parsed.kind === 'run' && parsed.config.backends[0]?.origin, 'https://localhost:8443');
  assert.equal(parsed.kind === 'run' && parsed.config.upstream.tls.ca?.length, 1);
  assert.equal(refusal(['--backend', 'ftp://x:1']), '--backend "ftp://x:1" is not allowed: expected the http or https scheme, got ftp');
  const missing = join(certs.dir, 'missing.pem');
  assert.equal(refusal(['--backend-ca', missing]), `--backend-ca ${JSON.stringify(missing)} is not allowed: it cannot be read (ENOENT)`);
  const notPem = join(certs.dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  assert.equal(refusal(['--backend-ca', notPem]), `--backend-ca ${JSON.stringify(notPem)} is not allowed: expected PEM certificates (-----BEGIN CERTIFICATE-----), found none`);
  const broken = join(certs.dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  assert.match(refusal(['--backend-ca', broken]), /^--backend-ca ".*broken\.pem" is not allowed: certificate 1 of 1 does not parse \(/);
  assert.match(refusal(['--backend-ca', certs.caFile, '--backend-insecure']), /cannot be combined with --backend-insecure/);
});
