import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFrom, usageRefusal } from '../helpers.ts';

test('--backend-dns NAME:PORT and --backend-srv _service._tcp.NAME, repeatable, with the scheme optional', () => {
  const { discovery, backends, maxBackends } = configFrom([
    '--backend-dns', 'API.Internal.:8080',
    '--backend-dns', 'http://web.internal:80,weight=5',
    '--backend-srv', '_http._tcp.api.internal',
    '--backend-srv', 'http://_app._tcp.svc.cluster.local',
  ]);
  assert.deepEqual(backends, []);
  assert.equal(maxBackends, 64);
  assert.deepEqual(discovery.names, [
    { kind: 'dns', source: 'dns:api.internal:8080', scheme: 'http', name: 'api.internal', port: 8080, weight: 1 },
    { kind: 'dns', source: 'dns:web.internal:80', scheme: 'http', name: 'web.internal', port: 80, weight: 5 },
    { kind: 'srv', source: 'srv:_http._tcp.api.internal', scheme: 'http', name: '_http._tcp.api.internal', port: null, weight: 1 },
    { kind: 'srv', source: 'srv:_app._tcp.svc.cluster.local', scheme: 'http', name: '_app._tcp.svc.cluster.local', port: null, weight: 1 },
  ]);
  assert.deepEqual(discovery.resolvers, []);
  assert.equal(discovery.staleMs, 300_000);
});

test('--resolver IP[:PORT] (repeatable, IPv6 in brackets with a port) and --dns-stale-window', () => {
  const { discovery } = configFrom(['--backend-dns', 'api:80', '--resolver', '127.0.0.1:5353', '--resolver', '[::1]:53', '--resolver', 'fd00::2', '--resolver', '10.0.0.2', '--dns-stale-window', '30s']);
  assert.deepEqual(discovery.resolvers, [
    { host: '127.0.0.1', port: 5353 },
    { host: '::1', port: 53 },
    { host: 'fd00::2', port: 53 },
    { host: '10.0.0.2', port: 53 },
  ]);
  assert.equal(discovery.staleMs, 30_000);
});

test('DNS names and --backend go together; either one means no demo backends', () => {
  const config = configFrom(['--backend', 'http://127.0.0.1:9001', '--backend-dns', 'api:80']);
  assert.equal(config.backends.length, 1);
  assert.equal(config.discovery.names.length, 1);
});

const REFUSALS: ReadonlyArray<readonly [readonly string[], string]> = [
  [['--backend-dns', 'api.internal'], '--backend-dns "api.internal" is not allowed: expected NAME:PORT, like api.internal:8080 (the port every address is reached on)'],
  [['--backend-dns', 'api.internal:0'], '--backend-dns "api.internal:0" is not allowed: the port must be a whole number from 1 to 65535, got "0"'],
  [['--backend-dns', 'api.internal:http'], '--backend-dns "api.internal:http" is not allowed: the port must be a whole number from 1 to 65535, got "http"'],
  [['--backend-dns', 'api..internal:80'], '--backend-dns "api..internal:80" is not allowed: "api..internal" is not a DNS name (letters, digits, - and _ in dot-separated labels)'],
  [['--backend-dns', '10.0.0.1:80'], '--backend-dns "10.0.0.1:80" is not allowed: that is an address, not a name: give it with --backend'],
  [['--backend-dns', 'api:80,weight=0'], '--backend-dns "api:80,weight=0" is not allowed: weight must be a whole number from 1 to 1000'],
  [['--backend-dns', 'api:80,tier=1'], '--backend-dns "api:80,tier=1" is not allowed: expected NAME:PORT or NAME:PORT,weight=N (got "tier=1" after the comma)'],
  [['--backend-dns', 'https://api:443'], '--backend-dns "https://api:443" is not allowed: https backends cannot be found through DNS yet: they are reached by address, and their certificate names the host; list them with --backend'],
  [['--backend-dns', 'ftp://api:21'], '--backend-dns "ftp://api:21" is not allowed: expected the http scheme (or none), got ftp'],
  [['--backend-srv', 'api.internal'], '--backend-srv "api.internal" is not allowed: expected an SRV name _service._tcp.DOMAIN, like _http._tcp.api.internal (no port: the records give it)'],
  [['--backend-srv', '_http._udp.api'], '--backend-srv "_http._udp.api" is not allowed: expected an SRV name _service._tcp.DOMAIN, like _http._tcp.api.internal (no port: the records give it)'],
  [['--backend-srv', '_http._tcp.api:80'], '--backend-srv "_http._tcp.api:80" is not allowed: expected an SRV name _service._tcp.DOMAIN, like _http._tcp.api.internal (no port: the records give it)'],
  [['--backend-srv', '_http._tcp.api,weight=2'], '--backend-srv "_http._tcp.api,weight=2" is not allowed: SRV records carry their own weights; nothing may follow the name'],
  [['--backend-dns', 'api:80', '--backend-dns', 'API.:80'], '--backend-dns api is given twice; follow each name once'],
  [['--backend-dns', 'api:80', '--resolver', 'dns.internal'], '--resolver "dns.internal" is not allowed: expected a DNS server\'s IP address, optionally with a port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53'],
  [['--backend-dns', 'api:80', '--resolver', '10.0.0.2:99999'], '--resolver "10.0.0.2:99999" is not allowed: expected a DNS server\'s IP address, optionally with a port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53'],
  [['--backend-dns', 'api:80', '--resolver', '[10.0.0.2]:53'], '--resolver "[10.0.0.2]:53" is not allowed: expected a DNS server\'s IP address, optionally with a port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53'],
  [['--backend-dns', 'api:80', '--dns-stale-window', '0'], '--dns-stale-window "0" is not allowed: expected a duration from 1s to 168h, like 500ms, 5s, 2m or 1h (a bare number is seconds)'],
  [['--resolver', '10.0.0.2'], '--resolver 10.0.0.2 has no effect without --backend-dns or --backend-srv'],
  [['--dns-stale-window', '1m'], '--dns-stale-window 1m has no effect without --backend-dns or --backend-srv'],
  [['--backend-srv', '_http._tcp.api', '--spawn-backends', '2'], '--spawn-backends 2 cannot be combined with --backend-srv: external backends replace the demo ones'],
];

for (const [args, message] of REFUSALS) {
  test(`refused: ${args.join(' ')}`, () => {
    assert.equal(usageRefusal(args), message);
  });
}
