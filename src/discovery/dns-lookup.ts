/**
 * @module From a followed DNS name to the backends it names, with the TTL they are good
 * for. `--backend-dns NAME:PORT`: every A and AAAA address of NAME is a backend
 * `http://ADDRESS:PORT` (IPv6 in brackets). `--backend-srv _service._tcp.NAME`: every
 * SRV record's target is resolved (from the answer's additional section when the server
 * put its addresses there, else by asking for its A and AAAA records), and each address
 * is a backend at the record's port, with the record's weight (0 counts as 1, above
 * MAX_WEIGHT as MAX_WEIGHT) and its priority as the backend's tier. Two records that
 * land on one address and port make one backend: the better priority, and at that
 * priority the sum of their weights.
 *
 * Backends are named by address, as --backend names them: listener threads then connect
 * to the address DNS gave, never resolving a name again themselves. CNAMEs are followed
 * within the answer. The TTL is the smallest of every record used.
 */
import { isIPv6 } from 'node:net';
import type { Answer, OptAnswer, SrvData } from 'dns-packet';
import type { DnsNameConfig } from '../config/config.ts';
import type { BackendSpec } from '../control/backend-table.ts';
import { MAX_TIER, MAX_WEIGHT } from '../shared/layout.ts';
import { sameName, type DnsAnswer, type DnsClient } from './dns-client.ts';

export interface Lookup {
  /** Empty when the name has no records (NXDOMAIN or no data): an answer, not a failure. */
  readonly backends: readonly BackendSpec[];
  /** Seconds until the first record used expires; null when none was used. */
  readonly ttlSeconds: number | null;
}

/** A record that carries data (every one but EDNS's OPT pseudo-record). */
type DataRecord = Exclude<Answer, OptAnswer>;

interface Addresses {
  readonly addresses: readonly string[];
  readonly ttlSeconds: number | null;
}

/** Resolves one followed name; rejects (DnsQueryError) when a resolver failed to answer. */
export function lookup(client: DnsClient, spec: DnsNameConfig): Promise<Lookup> {
  return spec.kind === 'dns' ? lookupAddresses(client, spec) : lookupService(client, spec);
}

async function lookupAddresses(client: DnsClient, spec: DnsNameConfig): Promise<Lookup> {
  const { addresses, ttlSeconds } = await addressesOf(client, spec.name);
  const port = spec.port ?? 0;
  return { backends: addresses.map((address) => ({ origin: originOf(spec.scheme, address, port), weight: spec.weight })), ttlSeconds };
}

async function lookupService(client: DnsClient, spec: DnsNameConfig): Promise<Lookup> {
  const answer = await client.query(spec.name, 'SRV');
  const { records, ttlSeconds } = recordsOf(answer, spec.name, 'SRV');
  const services = records.map((record) => record.data as SrvData).filter((srv) => srv.target !== '' && srv.target !== '.');
  // One question per target, whatever the number of records naming it.
  const targets = new Map<string, Promise<Addresses>>();
  for (const { target } of services) {
    const key = target.toLowerCase();
    if (!targets.has(key)) targets.set(key, addressesFromAdditionals(answer, target) ?? addressesOf(client, target));
  }
  const resolved = new Map<string, Addresses>();
  await Promise.all([...targets].map(async ([key, addresses]) => resolved.set(key, await addresses)));

  const byOrigin = new Map<string, { origin: string; weight: number; tier: number }>();
  let ttl = ttlSeconds;
  for (const srv of services) {
    const target = resolved.get(srv.target.toLowerCase()) as Addresses;
    if (target.addresses.length > 0) ttl = minTtl(ttl, target.ttlSeconds);
    const weight = Math.max(1, srv.weight ?? 0);
    const tier = Math.min(MAX_TIER, srv.priority ?? 0);
    for (const address of target.addresses) {
      const origin = originOf(spec.scheme, address, srv.port);
      const seen = byOrigin.get(origin);
      if (seen === undefined || tier < seen.tier) byOrigin.set(origin, { origin, weight, tier });
      else if (tier === seen.tier) seen.weight += weight;
    }
  }
  const backends = [...byOrigin.values()].map(({ origin, weight, tier }) => ({ origin, weight: Math.min(MAX_WEIGHT, weight), tier }));
  return { backends, ttlSeconds: ttl };
}

/** The A and AAAA addresses of `name`: both questions must be answered. */
async function addressesOf(client: DnsClient, name: string): Promise<Addresses> {
  const [v4, v6] = await Promise.all([client.query(name, 'A'), client.query(name, 'AAAA')]);
  const a = recordsOf(v4, name, 'A');
  const aaaa = recordsOf(v6, name, 'AAAA');
  const addresses = [...a.records, ...aaaa.records].map((record) => record.data as string);
  return { addresses: [...new Set(addresses)], ttlSeconds: minTtl(a.ttlSeconds, aaaa.ttlSeconds) };
}

/** The target's addresses when the SRV answer carried them (as CoreDNS and Consul do);
 * null when it carried none, and they must be asked for. */
function addressesFromAdditionals(answer: DnsAnswer, target: string): Promise<Addresses> | null {
  const extra: DnsAnswer = { rcode: 'NOERROR', answers: answer.additionals, additionals: [] };
  const a = recordsOf(extra, target, 'A');
  const aaaa = recordsOf(extra, target, 'AAAA');
  if (a.records.length + aaaa.records.length === 0) return null;
  const addresses = [...a.records, ...aaaa.records].map((record) => record.data as string);
  return Promise.resolve({ addresses: [...new Set(addresses)], ttlSeconds: minTtl(a.ttlSeconds, aaaa.ttlSeconds) });
}

/** The records of `type` owned by `name` or by the end of its CNAME chain in the answer,
 * and the smallest TTL among them and the CNAMEs that led there. */
function recordsOf(answer: DnsAnswer, name: string, type: 'A' | 'AAAA' | 'SRV'): { records: DataRecord[]; ttlSeconds: number | null } {
  const all = answer.answers.filter((record): record is DataRecord => record.type !== 'OPT');
  const names = [name];
  let ttl: number | null = null;
  // A chain longer than the answer's records would be a loop.
  for (let hop = 0; hop <= all.length; hop++) {
    const current = names.at(-1) as string;
    const cname = all.find((record) => record.type === 'CNAME' && sameName(record.name, current));
    if (cname === undefined || names.some((seen) => sameName(seen, cname.data as string))) break;
    ttl = minTtl(ttl, cname.ttl ?? 0);
    names.push(cname.data as string);
  }
  const owner = names.at(-1) as string;
  const records = all.filter((record) => record.type === type && sameName(record.name, owner));
  if (records.length === 0) return { records, ttlSeconds: null };
  for (const record of records) ttl = minTtl(ttl, record.ttl ?? 0);
  return { records, ttlSeconds: ttl };
}

function minTtl(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** The origin as --backend would spell it (URL's normal form: IPv6 compressed, in brackets). */
function originOf(scheme: string, address: string, port: number): string {
  return new URL(`${scheme}://${isIPv6(address) ? `[${address}]` : address}:${port}`).origin;
}
