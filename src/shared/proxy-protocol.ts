/**
 * @module The PROXY protocol header (HAProxy's spec, versions 1 and 2) that an L4 load
 * balancer in front writes at the start of each connection to say who the client is:
 * parsed here from the first bytes of a connection, strictly (any deviation is a refusal).
 *
 * v1 is one text line, `PROXY TCP4|TCP6 src dst sport dport\r\n` (or `PROXY UNKNOWN...`),
 * at most 107 bytes. v2 is binary: a 12-byte signature, version and command, address
 * family, a length, the addresses, then TLVs (read past, not used). A v2 `LOCAL` command
 * (the balancer's own health check) and v1 `UNKNOWN` carry no client: the connection's
 * own peer stands.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ProxiedAddress } from './client-address.ts';

export const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
const V2_FIXED = 16;

export type ProxyHeader =
  /** More bytes are needed to decide. */
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** `client` null: no client address in it (LOCAL, UNKNOWN, or a family we do not route). */
  | { readonly kind: 'header'; readonly length: number; readonly client: ProxiedAddress | null };

const INCOMPLETE: ProxyHeader = { kind: 'incomplete' };

function invalid(reason: string): ProxyHeader {
  return { kind: 'invalid', reason };
}

/** Reads a header at the start of `bytes` (everything received so far). */
export function parseProxyHeader(bytes: Buffer): ProxyHeader {
  const v2 = bytes.subarray(0, V2_SIGNATURE.length);
  if (v2.equals(V2_SIGNATURE.subarray(0, v2.length))) return bytes.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(bytes);
  const v1 = bytes.subarray(0, V1_PREFIX.length);
  if (v1.equals(V1_PREFIX.subarray(0, v1.length))) return bytes.length < V1_PREFIX.length ? INCOMPLETE : parseV1(bytes);
  return invalid('the connection does not start with a PROXY protocol header');
}

function parseV1(bytes: Buffer): ProxyHeader {
  const end = bytes.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return bytes.length >= V1_MAX ? invalid(`PROXY v1 line longer than ${V1_MAX} bytes`) : INCOMPLETE;
  if (end + 2 > V1_MAX) return invalid(`PROXY v1 line longer than ${V1_MAX} bytes`);
  const line = bytes.toString('latin1', 0, end);
  const fields = line.split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { kind: 'header', length, client: null };
  const [, family, source, destination, sourcePort, destinationPort, ...extra] = fields;
  if (extra.length > 0 || destinationPort === undefined) return invalid('PROXY v1 line does not have 6 fields');
  const isFamily = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : null;
  if (isFamily === null) return invalid(`PROXY v1 protocol ${JSON.stringify(family)} is not TCP4, TCP6 or UNKNOWN`);
  if (!isFamily(source ?? '') || !isFamily(destination ?? '')) return invalid(`PROXY v1 addresses are not ${family} addresses`);
  const port = v1Port(sourcePort ?? '');
  if (port === null || v1Port(destinationPort) === null) return invalid('PROXY v1 ports must be 0-65535 without leading zeros');
  return { kind: 'header', length, client: { address: source as string, port } };
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function parseV2(bytes: Buffer): ProxyHeader {
  if (bytes.length < V2_FIXED) return INCOMPLETE;
  const versionCommand = bytes[12] as number;
  if (versionCommand >> 4 !== 2) return invalid(`PROXY v2 version ${versionCommand >> 4} is not 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`PROXY v2 command ${command} is neither LOCAL (0) nor PROXY (1)`);
  const length = V2_FIXED + bytes.readUInt16BE(14);
  if (bytes.length < length) return INCOMPLETE;
  if (command === 0) return { kind: 'header', length, client: null };
  const family = bytes[13] as number;
  const body = bytes.subarray(V2_FIXED, length);
  if (family === 0x11) {
    if (body.length < 12) return invalid('PROXY v2 TCP over IPv4 needs 12 bytes of addresses');
    return { kind: 'header', length, client: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (family === 0x21) {
    if (body.length < 36) return invalid('PROXY v2 TCP over IPv6 needs 36 bytes of addresses');
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    // The compressed form (2001:db8::1), as Node reports a socket's own peer.
    const address = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
    return { kind: 'header', length, client: { address, port: body.readUInt16BE(32) } };
  }
  // UNSPEC, UDP and UNIX sockets: a valid header without a TCP client to route by.
  if ((family & 0xf0) <= 0x30 && (family & 0x0f) <= 2) return { kind: 'header', length, client: null };
  return invalid(`PROXY v2 address family 0x${family.toString(16)} is not defined`);
}

export interface ProxyEndpoints {
  /** The client, as the balancer knows it (its TCP peer, or what a PROXY header in front named). */
  readonly client: ProxiedAddress;
  /** The address and port the client connected to. */
  readonly local: ProxiedAddress;
}

/** `::ffff:192.0.2.1`, as a dual-stack socket reports an IPv4 peer, is that IPv4 address. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function ipv6Bytes(written: string): Buffer {
  // The URL parser writes a dotted IPv4 tail (`::1.2.3.4`) as two hex groups (`::102:304`).
  const address = new URL(`http://[${written}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2));
  return bytes;
}

/**
 * The header a balancer writes first on a connection to a backend to say who the client
 * is (--send-proxy-protocol). A pair of addresses of different families, or one that is
 * neither IPv4 nor IPv6, is sent as v1 `UNKNOWN` / v2 `UNSPEC` (the backend then uses
 * the connection's own peer).
 */
export function proxyHeader(version: 'v1' | 'v2', { client, local }: ProxyEndpoints): Buffer {
  const source = plain(client.address);
  const destination = plain(local.address);
  const family = isIPv4(source) && isIPv4(destination) ? 4 : isIPv6(source) && isIPv6(destination) ? 6 : 0;
  if (version === 'v1') {
    if (family === 0) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    return Buffer.from(`PROXY TCP${family} ${source} ${destination} ${client.port} ${local.port}\r\n`, 'latin1');
  }
  let addresses = Buffer.alloc(0);
  if (family === 4) addresses = Buffer.concat([Buffer.from(source.split('.').map(Number)), Buffer.from(destination.split('.').map(Number)), Buffer.alloc(4)]);
  if (family === 6) addresses = Buffer.concat([ipv6Bytes(source), ipv6Bytes(destination), Buffer.alloc(4)]);
  if (family !== 0) {
    addresses.writeUInt16BE(client.port, addresses.length - 4);
    addresses.writeUInt16BE(local.port, addresses.length - 2);
  }
  const fixed = Buffer.from([0x21, family === 4 ? 0x11 : family === 6 ? 0x21 : 0x00, 0, 0]);
  fixed.writeUInt16BE(addresses.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, addresses]);
}
