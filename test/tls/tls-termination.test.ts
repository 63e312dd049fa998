/**
 * TLS termination (--tls-cert / --tls-key): the balancer's port speaks HTTPS, picks the
 * certificate by SNI, tells backends `X-Forwarded-Proto: https`, reloads certificates
 * without dropping a request, and refuses bad files with one line.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { request } from 'undici';
import { parseCli } from '../../src/config/cli.ts';
import { loadCertificate } from '../../src/tls/certificates.ts';
import { issue, makeCertificates, type TestCertificates } from '../fixtures/certificates.ts';
import { startBackend, startTestBalancer, usageRefusal, waitFor } from '../helpers.ts';

interface Site {
  readonly certs: TestCertificates;
  readonly ca: string;
  /** The files the balancer was started with (rewritten by the reload tests). */
  readonly a: { certFile: string; keyFile: string };
  readonly b: { certFile: string; keyFile: string };
}

function site(t: TestContext): Site {
  const certs = makeCertificates(t);
  const a = issue(certs, 'a', 'DNS:a.test');
  const b = issue(certs, 'b', 'DNS:b.test,DNS:*.b.test');
  return { certs, ca: readFileSync(certs.caFile, 'latin1'), a, b };
}

async function tlsBalancer(t: TestContext, s: Site, extra: string[] = []) {
  const backend = await startBackend(t, (req, res) => res.end(`proto=${req.headers['x-forwarded-proto']} xff=${req.headers['x-forwarded-for']}`));
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--backend', backend.origin,
    '--tls-cert', s.a.certFile, '--tls-key', s.a.keyFile,
    '--tls-cert', s.b.certFile, '--tls-key', s.b.keyFile,
    ...extra,
  ]);
  return { backend, balancer };
}

/** One HTTPS request on a new TLS connection naming `servername`; the certificate seen and the answer. */
async function get(port: number, servername: string, ca: string, path = '/'): Promise<{ names: string; serial: string; protocol: string | false | null; body: string }> {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const certificate = socket.getPeerCertificate();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
  await new Promise((resolve) => socket.once('close', resolve));
  const text = Buffer.concat(chunks).toString('latin1');
  return { names: certificate.subjectaltname ?? '', serial: certificate.serialNumber, protocol: socket.alpnProtocol, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

test('each name gets its own certificate by SNI (exact, then wildcard, else the first); backends see X-Forwarded-Proto: https', async (t) => {
  const s = site(t);
  const { balancer } = await tlsBalancer(t, s);
  const a = await get(balancer.port, 'a.test', s.ca);
  assert.equal(a.names, 'DNS:a.test');
  assert.equal(a.protocol, 'http/1.1');
  assert.equal(a.body, 'proto=https xff=127.0.0.1');
  const b = await get(balancer.port, 'b.test', s.ca);
  assert.equal(b.names, 'DNS:b.test, DNS:*.b.test');
  assert.equal(b.body, 'proto=https xff=127.0.0.1');
  assert.equal((await get(balancer.port, 'www.b.test', s.ca)).names, 'DNS:b.test, DNS:*.b.test');
  // Unknown name: the first pair. Its certificate does not name it, which the client checks.
  await assert.rejects(get(balancer.port, 'c.test', s.ca), /c\.test/);
  // undici as a client would use it, pointed at the balancer by name.
  const res = await request(`https://127.0.0.1:${balancer.port}/via-undici`, {
    dispatcher: new (await import('undici')).Agent({ connect: { ca: s.ca, servername: 'a.test' } }),
  });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'proto=https xff=127.0.0.1');
});

test('TLS below 1.2 and plain HTTP on the TLS port are refused at the handshake; no backend sees them', async (t) => {
  const s = site(t);
  const { backend, balancer } = await tlsBalancer(t, s);
  await assert.rejects(get(balancer.port, 'a.test', s.ca).then(() => connect({ host: '127.0.0.1', port: balancer.port, servername: 'a.test', ca: s.ca, maxVersion: 'TLSv1.1' })).then(
    (socket) => new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    }),
  ));
  const plain = connectTcp(balancer.port, '127.0.0.1');
  const answered: Buffer[] = [];
  plain.on('data', (chunk: Buffer) => answered.push(chunk));
  plain.on('error', () => {});
  plain.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  await new Promise((resolve) => plain.once('close', resolve));
  assert.doesNotMatch(Buffer.concat(answered).toString('latin1'), /^HTTP\//);
  assert.equal(backend.received.length, 1, 'only the one good request above reached the backend');
});

test('a reload under load: new handshakes get the new certificate, kept-alive connections go on, no request fails', async (t) => {
  const s = site(t);
  const { balancer } = await tlsBalancer(t, s);
  const before = await get(balancer.port, 'a.test', s.ca);
  // A kept-alive connection made before the reload.
  const kept = connect({ host: '127.0.0.1', port: balancer.port, servername: 'a.test', ca: s.ca });
  t.after(() => kept.destroy());
  await new Promise((resolve) => kept.once('secureConnect', resolve));
  let failures = 0;
  let done = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      await get(balancer.port, 'a.test', s.ca).then(
        ({ body }) => (body === 'proto=https xff=127.0.0.1' ? done++ : failures++),
        () => failures++,
      );
    }
  })();
  const renewed = issue(s.certs, 'a2', 'DNS:a.test');
  copyFileSync(renewed.certFile, s.a.certFile);
  copyFileSync(renewed.keyFile, s.a.keyFile);
  const line = balancer.reloadCertificates();
  assert.match(line ?? '', /^certificates reloaded \(SIGHUP\): a\.test until .*; b\.test, \*\.b\.test until /);
  await waitFor(async () => (await get(balancer.port, 'a.test', s.ca)).serial !== before.serial, 'a handshake with the new certificate');
  await new Promise((resolve) => setTimeout(resolve, 200));
  running = false;
  await load;
  assert.equal(failures, 0, `${failures} of ${done + failures} requests failed across the reload`);
  assert.ok(done > 0);
  // The connection from before the reload still serves requests.
  const chunks: Buffer[] = [];
  kept.on('data', (chunk: Buffer) => chunks.push(chunk));
  kept.write('GET /kept HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => kept.once('close', resolve));
  assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 200 /);
});

test('a changed certificate file is reloaded by itself; a bad one keeps the certificates in use and says why', async (t) => {
  const s = site(t);
  const { balancer } = await tlsBalancer(t, s);
  const before = await get(balancer.port, 'b.test', s.ca);
  const renewed = issue(s.certs, 'b2', 'DNS:b.test,DNS:*.b.test');
  copyFileSync(renewed.keyFile, s.b.keyFile);
  copyFileSync(renewed.certFile, s.b.certFile);
  await waitFor(async () => (await get(balancer.port, 'b.test', s.ca)).serial !== before.serial, 'the watched file to be reloaded', { timeoutMs: 10_000, intervalMs: 100 });
  assert.ok(balancer.logged.some((line) => line.startsWith('certificates reloaded (a certificate file changed)')), balancer.logged.join('\n'));
  const serving = (await get(balancer.port, 'b.test', s.ca)).serial;
  writeFileSync(s.b.certFile, 'not a certificate\n');
  const line = balancer.reloadCertificates();
  assert.equal(line, `certificate reload (SIGHUP) failed, the certificates in use are kept: --tls-cert ${JSON.stringify(s.b.certFile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  assert.equal((await get(balancer.port, 'b.test', s.ca)).serial, serving, 'still the last good certificate');
});

test('certificates replaced the way deploy tools do it are followed: renamed over the file, and swapped behind a symlink (certbot live/) twice in a row', async (t) => {
  const s = site(t);
  const live = join(s.certs.dir, 'live');
  mkdirSync(live);
  const link = (target: string, name: string): void => {
    symlinkSync(target, join(live, `${name}.new`));
    renameSync(join(live, `${name}.new`), join(live, name));
  };
  link(s.a.certFile, 'cert.pem');
  link(s.a.keyFile, 'key.pem');
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--tls-cert', join(live, 'cert.pem'), '--tls-key', join(live, 'key.pem')]);
  let serial = (await get(balancer.port, 'a.test', s.ca)).serial;
  for (const name of ['a2', 'a3']) {
    const renewed = issue(s.certs, name, 'DNS:a.test');
    link(renewed.keyFile, 'key.pem');
    link(renewed.certFile, 'cert.pem');
    await waitFor(async () => (await get(balancer.port, 'a.test', s.ca)).serial !== serial, `the swap to ${name} followed`, { timeoutMs: 10_000, intervalMs: 100 });
    serial = (await get(balancer.port, 'a.test', s.ca)).serial;
  }
  // Renamed over the symlink itself: a plain file now.
  const renewed = issue(s.certs, 'a4', 'DNS:a.test');
  renameSync(renewed.keyFile, join(live, 'key.pem'));
  renameSync(renewed.certFile, join(live, 'cert.pem'));
  await waitFor(async () => (await get(balancer.port, 'a.test', s.ca)).serial !== serial, 'the rename followed', { timeoutMs: 10_000, intervalMs: 100 });
});

test('--redirect-http answers 308 to the https:// URL of the same path; no backend sees it', async (t) => {
  const s = site(t);
  const { backend, balancer } = await tlsBalancer(t, s, ['--redirect-http', '0']);
  const port = balancer.redirect?.port ?? assert.fail('no redirect listener');
  const res = await request(`http://127.0.0.1:${port}/some/path?q=1`, { headers: { host: 'a.test:80' } });
  assert.equal(res.statusCode, 308);
  assert.equal(res.headers.location, `https://a.test:${balancer.port}/some/path?q=1`);
  assert.equal(await res.body.text(), `308 Permanent Redirect: https://a.test:${balancer.port}/some/path?q=1\n`);
  assert.equal(backend.received.length, 0);
});

test('PROXY protocol in front of TLS: the header comes first, then the handshake; the proxied client is the one named', async (t) => {
  const s = site(t);
  const { balancer } = await tlsBalancer(t, s, ['--accept-proxy-protocol']);
  const raw = connectTcp(balancer.port, '127.0.0.1');
  await new Promise((resolve) => raw.once('connect', resolve));
  raw.write('PROXY TCP4 203.0.113.9 10.0.0.1 5000 443\r\n');
  const socket = connect({ socket: raw, servername: 'a.test', ca: s.ca });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
  assert.match(Buffer.concat(chunks).toString('latin1'), /proto=https xff=203\.0\.113\.9$/);
});

test('bad TLS flags exit with one line naming the flag and the file; an expired certificate is served with a warning', (t) => {
  const s = site(t);
  const refusal = usageRefusal;
  assert.equal(refusal(['--tls-cert', s.a.certFile]), '--tls-cert is given 1 time and --tls-key 0: each certificate needs its key, in the same order');
  assert.equal(refusal(['--tls-cert', s.a.certFile, '--tls-key', s.b.keyFile]), `--tls-key ${JSON.stringify(s.b.keyFile)} does not match the certificate in --tls-cert ${JSON.stringify(s.a.certFile)}`);
  const missing = join(s.certs.dir, 'missing.pem');
  assert.equal(refusal(['--tls-cert', missing, '--tls-key', s.a.keyFile]), `--tls-cert ${JSON.stringify(missing)} cannot be read (ENOENT)`);
  assert.match(refusal(['--tls-cert', s.a.certFile, '--tls-key', s.a.certFile]), /^--tls-key ".*a\.pem" is not a PEM private key \(/);
  assert.equal(refusal(['--redirect-http', '8081']), '--redirect-http 8081 needs --tls-cert and --tls-key: there is no https:// to redirect to');
  const parsed = parseCli(['--admin-port', 'off', '--tls-cert', s.a.certFile, '--tls-key', s.a.keyFile]);
  assert.equal(parsed.kind === 'run' && parsed.config.tls?.certificates[0]?.names.join(), 'a.test');
  assert.deepEqual(parsed.kind === 'run' && parsed.warnings, []);
  const later = Date.now() + 10 * 86_400_000;
  assert.match(loadCertificate(s.a, later).warning ?? '', /^--tls-cert ".*a\.pem" expired on .*; it is served anyway$/);
});
