/**
 * @module The flags of DNS discovery: --backend-dns [http://]NAME:PORT[,weight=N],
 * --backend-srv [http://]_service._tcp.NAME, --resolver IP[:PORT] (each repeatable) and
 * --dns-stale-window T, read and checked into a `DiscoveryConfig`.
 *
 * Only http backends for now: DNS gives addresses, and an https backend reached by
 * address would need the name its certificate carries kept beside each address (for SNI
 * and verification), which the slot table's origin does not hold. `https://` is refused
 * with that reason rather than served unverified.
 */
import { isIP } from 'node:net';
import { MAX_WEIGHT } from '../shared/layout.ts';
import { DEFAULTS, type DiscoveryConfig, type DnsNameConfig } from './config.ts';
import { duration, UsageError } from './flag-values.ts';
import type { SettingValues } from './setting-values.ts';

export const DISCOVERY_FLAGS = ['backend-dns', 'backend-srv', 'resolver', 'dns-stale-window'] as const;

/** A host name as DNS has them: labels of letters, digits, `-` and `_` (service labels), 1-63 each, 253 in all. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$/i;
/** An SRV name: `_service._tcp.` and the domain (RFC 2782; HTTP runs over TCP). */
const SERVICE_NAME = /^_[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\._tcp\./i;

/** The names a setting is said by: `--backend-dns` on the command line,
 * `discovery.backend-dns` in the config file. */
type Named = (flag: string) => string;

export function discoveryConfig(values: SettingValues): DiscoveryConfig {
  const name: Named = (flag) => values.name(flag);
  const list = (flag: string): readonly string[] => (values.has(flag) ? values.list(flag) : []);
  const names = [...list('backend-dns').map((raw) => addressName(raw, name)), ...list('backend-srv').map((raw) => serviceName(raw, name))];
  const twice = names.find((spec, i) => names.findIndex((other) => other.source === spec.source) !== i);
  if (twice) throw new UsageError(`${name(`backend-${twice.kind}`)} ${twice.name} is given twice; follow each name once`);
  const resolvers = list('resolver').map((raw) => resolverAddress(raw, name));
  const staleRaw = values.text('dns-stale-window');
  if (names.length === 0) {
    const stray = resolvers.length > 0 ? `${name('resolver')} ${list('resolver')[0]}` : staleRaw !== undefined ? `${name('dns-stale-window')} ${staleRaw}` : null;
    if (stray) throw new UsageError(`${stray} has no effect without ${name('backend-dns')} or ${name('backend-srv')}`);
  }
  return {
    names,
    resolvers,
    staleMs: duration(name('dns-stale-window'), staleRaw, DEFAULTS.discovery.staleMs, { minMs: 1_000, maxMs: 7 * 24 * 3_600_000 }),
  };
}

/** `[http://]NAME:PORT[,weight=N]`. */
function addressName(raw: string, said: Named): DnsNameConfig {
  const reject = (why: string): never => {
    throw new UsageError(`${said('backend-dns')} ${JSON.stringify(raw)} is not allowed: ${why}`);
  };
  const [target = '', option] = splitOption(raw);
  let weight = 1;
  if (option !== undefined) {
    const match = /^weight=(\d+)$/.exec(option);
    weight = match ? Number(match[1]) : NaN;
    if (!match) reject(`expected NAME:PORT or NAME:PORT,weight=N (got ${JSON.stringify(option)} after the comma)`);
    if (!Number.isSafeInteger(weight) || weight < 1 || weight > MAX_WEIGHT) reject(`weight must be a whole number from 1 to ${MAX_WEIGHT}`);
  }
  const { scheme, rest } = schemeOf(target, reject);
  const colon = rest.lastIndexOf(':');
  if (colon < 0) reject('expected NAME:PORT, like api.internal:8080 (the port every address is reached on)');
  const name = normalName(rest.slice(0, colon));
  const portText = rest.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) reject(`the port must be a whole number from 1 to 65535, got ${JSON.stringify(portText)}`);
  if (isIP(name) !== 0 || name.startsWith('[')) reject('that is an address, not a name: give it with --backend');
  if (!HOST_NAME.test(name)) reject(`${JSON.stringify(name)} is not a DNS name (letters, digits, - and _ in dot-separated labels)`);
  return { kind: 'dns', source: `dns:${name}:${port}`, scheme, name, port, weight };
}

/** `[http://]_service._tcp.NAME`. */
function serviceName(raw: string, said: Named): DnsNameConfig {
  const reject = (why: string): never => {
    throw new UsageError(`${said('backend-srv')} ${JSON.stringify(raw)} is not allowed: ${why}`);
  };
  if (raw.includes(',')) reject('SRV records carry their own weights; nothing may follow the name');
  const { scheme, rest } = schemeOf(raw, reject);
  const name = normalName(rest);
  if (!SERVICE_NAME.test(name) || !HOST_NAME.test(name)) reject('expected an SRV name _service._tcp.DOMAIN, like _http._tcp.api.internal (no port: the records give it)');
  return { kind: 'srv', source: `srv:${name}`, scheme, name, port: null, weight: 1 };
}

function schemeOf(raw: string, reject: (why: string) => never): { scheme: 'http'; rest: string } {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(raw);
  if (match === null) return { scheme: 'http', rest: raw };
  const scheme = (match[1] as string).toLowerCase();
  if (scheme === 'https') {
    return reject('https backends cannot be found through DNS yet: they are reached by address, and their certificate names the host; list them with --backend');
  }
  if (scheme !== 'http') return reject(`expected the http scheme (or none), got ${scheme}`);
  return { scheme: 'http', rest: match[2] as string };
}

/** `IP` or `IP:PORT`, IPv6 in brackets when a port follows: `[::1]:5353`. */
function resolverAddress(raw: string, said: Named): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(raw);
  const plain = /^([^:]+)(?::(\d{1,5}))?$/.exec(raw);
  const [host, portText] = bracketed ? [bracketed[1] as string, bracketed[2]] : plain ? [plain[1] as string, plain[2]] : isIP(raw) === 6 ? [raw, undefined] : ['', undefined];
  const port = portText === undefined ? 53 : Number(portText);
  if (isIP(host) === 0 || !(port >= 1 && port <= 65535) || (bracketed && isIP(host) !== 6)) {
    throw new UsageError(`${said('resolver')} ${JSON.stringify(raw)} is not allowed: expected a DNS server's IP address, optionally with a port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53`);
  }
  return { host, port };
}

function splitOption(raw: string): [string, string | undefined] {
  const comma = raw.indexOf(',');
  return comma < 0 ? [raw, undefined] : [raw.slice(0, comma), raw.slice(comma + 1)];
}

function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
