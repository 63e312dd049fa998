import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { hashKeyOf } from '../../src/routing/hash-key.ts';
import { cookieValue, StickySessions, withoutCookie } from '../../src/routing/sticky-sessions.ts';
import { upstreamRequestHeaders } from '../../src/relay/proxy-headers.ts';

function request(url: string, headers: Record<string, string | string[]>, remoteAddress = '10.1.2.3'): IncomingMessage {
  return { url, headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

test('hash keys: ip, path (without the query), header, cookie, query parameter; null when absent', () => {
  const req = request('/cart/42?user=ann&x=1', { 'x-user': 'ann', cookie: 'a=1; session=s-9; b=2' });
  assert.equal(hashKeyOf(req, { from: 'ip' }), '10.1.2.3');
  assert.equal(hashKeyOf(req, { from: 'path' }), '/cart/42');
  assert.equal(hashKeyOf(req, { from: 'header', name: 'x-user' }), 'ann');
  assert.equal(hashKeyOf(req, { from: 'cookie', name: 'session' }), 's-9');
  assert.equal(hashKeyOf(req, { from: 'query', name: 'user' }), 'ann');
  assert.equal(hashKeyOf(req, { from: 'header', name: 'x-missing' }), null);
  assert.equal(hashKeyOf(req, { from: 'cookie', name: 'missing' }), null);
  assert.equal(hashKeyOf(request('/p', {}), { from: 'query', name: 'user' }), null);
  assert.equal(hashKeyOf(request('/p', {}), { from: 'cookie', name: 'session' }), null);
});

test('cookieValue finds one cookie among several, with or without quotes; withoutCookie drops only it', () => {
  assert.equal(cookieValue('a=1; lb=xyz; b=2', 'lb'), 'xyz');
  assert.equal(cookieValue('lb="xyz"', 'lb'), 'xyz');
  assert.equal(cookieValue('alb=1; lbx=2', 'lb'), undefined);
  assert.equal(withoutCookie('a=1; lb=xyz; b=2', 'lb'), 'a=1; b=2');
  assert.equal(withoutCookie('lb=xyz', 'lb'), null);
  assert.equal(withoutCookie('alb=1;lb=2;lbx=3', 'lb'), 'alb=1; lbx=3');
});

const MEMBERS = [
  { slot: 0, origin: 'http://10.0.0.1:80', weight: 1, state: 'active' as const },
  { slot: 3, origin: 'http://10.0.0.2:80', weight: 1, state: 'active' as const },
];

test('a sticky cookie names no address, pins to its backend, and is the same on every instance with the secret', () => {
  const sticky = new StickySessions({ cookie: 'lb', secret: 'shared-secret-0123456789' });
  sticky.update(MEMBERS);
  const setCookie = sticky.setCookie(3) ?? '';
  assert.match(setCookie, /^lb=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
  assert.doesNotMatch(setCookie, /10\.0\.0|80/);
  const value = /^lb=([^;]+)/.exec(setCookie)?.[1] ?? '';
  assert.equal(sticky.pinnedSlot(`other=1; lb=${value}`), 3);

  // Another instance (another process, other slot numbers) with the same secret.
  const twin = new StickySessions({ cookie: 'lb', secret: 'shared-secret-0123456789' });
  twin.update([
    { slot: 7, origin: 'http://10.0.0.2:80', weight: 1, state: 'active' },
    { slot: 1, origin: 'http://10.0.0.1:80', weight: 1, state: 'active' },
  ]);
  assert.equal(twin.pinnedSlot(`lb=${value}`), 7);
  // A different secret does not accept it.
  const stranger = new StickySessions({ cookie: 'lb', secret: 'another-secret-0123456789' });
  stranger.update(MEMBERS);
  assert.equal(stranger.pinnedSlot(`lb=${value}`), -1);
});

test('forged, stale and missing sticky cookies are no pin, never an error', () => {
  const sticky = new StickySessions({ cookie: 'lb', secret: 'shared-secret-0123456789' });
  sticky.update(MEMBERS);
  for (const header of [undefined, '', 'lb=', 'lb=AAAAAAAAAAAAAAAAAAAAAA', 'lb=../../etc', 'lb=%00', 'other=1']) assert.equal(sticky.pinnedSlot(header), -1, String(header));
  const value = /^lb=([^;]+)/.exec(sticky.setCookie(0) ?? '')?.[1] ?? '';
  sticky.update([MEMBERS[1]!]); // backend 0 removed
  assert.equal(sticky.pinnedSlot(`lb=${value}`), -1);
});

test('the sticky cookie is not forwarded to the backend; the other cookies are', () => {
  const forward = (raw: string[]): string[] => upstreamRequestHeaders(raw, { clientAddress: '1.2.3.4', httpVersion: '1.1', stickyCookie: 'lb' });
  const one = forward(['Host', 'x', 'Cookie', 'a=1; lb=abc; b=2']);
  assert.deepEqual(
    one.slice(0, 4),
    ['Host', 'x', 'Cookie', 'a=1; b=2'],
  );
  const only = forward(['Host', 'x', 'Cookie', 'lb=abc']);
  assert.ok(!only.some((item) => item.toLowerCase() === 'cookie'), 'a Cookie header with nothing else is dropped');
});
