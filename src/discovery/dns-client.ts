/**
 * @module A small DNS stub client for discovery: one question (A, AAAA or SRV) to the
 * resolvers in turn, over UDP with EDNS0 (4096-byte answers), again over TCP when the
 * answer comes back truncated; packets encoded and decoded by `dns-packet`.
 *
 * Why not node:dns: `dns.Resolver` gives the TTL of A and AAAA records (`{ ttl: true }`)
 * but not of SRV records, and discovery re-resolves each name when its records expire.
 * One client for the three types also means one code path, one timeout policy and one
 * way of telling a failure (timeout, SERVFAIL, REFUSED) from an answer (NXDOMAIN or no
 * records is an answer: the name has no backends).
 *
 * An answer is accepted only from the server asked, with the query's random id and its
 * question; anything else on the socket is ignored (an off-path spoofer has to guess the
 * id and the random source port). Runs on the main thread only.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6, connect } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer } from 'dns-packet';

export type QueryType = 'A' | 'AAAA' | 'SRV';

export interface DnsServer {
  /** An IP address. */
  readonly host: string;
  readonly port: number;
}

/** What a server answered: NOERROR (possibly without records) or NXDOMAIN. */
export interface DnsAnswer {
  readonly rcode: 'NOERROR' | 'NXDOMAIN';
  readonly answers: readonly Answer[];
  readonly additionals: readonly Answer[];
}

/** No usable answer from any server; `code` says what the last one did. */
export class DnsQueryError extends Error {
  override readonly name = 'DnsQueryError';
  readonly code: 'TIMEOUT' | 'SERVER_FAILURE' | 'BAD_RESPONSE' | 'NETWORK' | 'CLOSED';

  constructor(code: DnsQueryError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface DnsClientOptions {
  /** How long one server gets to answer one try. */
  readonly timeoutMs?: number;
  /** Rounds over the servers before giving up. */
  readonly rounds?: number;
}

const UDP_PAYLOAD_BYTES = 4096;
const EDNS: OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: UDP_PAYLOAD_BYTES, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };

export class DnsClient {
  readonly servers: readonly DnsServer[];
  readonly #timeoutMs: number;
  readonly #rounds: number;
  /** Ends every exchange under way (close). */
  readonly #pending = new Set<() => void>();
  #closed = false;

  constructor(servers: readonly DnsServer[], { timeoutMs = 1_000, rounds = 2 }: DnsClientOptions = {}) {
    if (servers.length === 0) throw new RangeError('a DNS client needs at least one server');
    this.servers = servers;
    this.#timeoutMs = timeoutMs;
    this.#rounds = rounds;
  }

  /** Asks each server in turn, `rounds` times over, until one answers NOERROR or NXDOMAIN. */
  async query(name: string, type: QueryType): Promise<DnsAnswer> {
    let last: DnsQueryError = new DnsQueryError('NETWORK', 'no server was asked');
    for (let round = 0; round < this.#rounds; round++) {
      for (const server of this.servers) {
        if (this.#closed) throw new DnsQueryError('CLOSED', 'the DNS client was closed');
        try {
          let packet = await this.#exchange(server, name, type, 'udp');
          if (packet.flag_tc) packet = await this.#exchange(server, name, type, 'tcp');
          const rcode = (packet as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR';
          if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return { rcode, answers: packet.answers ?? [], additionals: packet.additionals ?? [] };
          last = new DnsQueryError('SERVER_FAILURE', `${serverName(server)} answered ${rcode} for ${type} ${name}`);
        } catch (error) {
          last = error instanceof DnsQueryError ? error : new DnsQueryError('NETWORK', `${serverName(server)}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    throw last;
  }

  /** Ends every query under way (they reject with CLOSED) and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const end of this.#pending) end();
  }

  #exchange(server: DnsServer, name: string, type: QueryType, transport: 'udp' | 'tcp'): Promise<DecodedPacket> {
    const id = randomInt(0, 0x10000);
    const query = {
      type: 'query' as const,
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' as const }],
      additionals: [EDNS],
    };
    return new Promise<DecodedPacket>((resolve, reject) => {
      let finish = (): void => {};
      let settled = false;
      const end = (error: DnsQueryError | null, packet?: DecodedPacket): void => {
        // Closing the socket may itself report (a TCP close): the first outcome stands.
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(abort);
        finish();
        if (error) reject(error);
        else resolve(packet as DecodedPacket);
      };
      const abort = (): void => end(new DnsQueryError('CLOSED', 'the DNS client was closed'));
      const timer = setTimeout(() => end(new DnsQueryError('TIMEOUT', `${serverName(server)} did not answer ${type} ${name} within ${this.#timeoutMs}ms (${transport})`)), this.#timeoutMs);
      this.#pending.add(abort);
      const accept = (bytes: Buffer): boolean => {
        let packet: DecodedPacket;
        try {
          packet = dnsPacket.decode(bytes);
        } catch {
          return false;
        }
        if (packet.id !== id || packet.type !== 'response' || !asks(packet, name, type)) return false;
        end(null, packet);
        return true;
      };
      const fail = (error: Error): void => end(new DnsQueryError('NETWORK', `${serverName(server)}: ${error.message}`));
      if (transport === 'udp') {
        const socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
        finish = () => socket.close();
        socket.on('error', fail);
        socket.on('message', (bytes, from) => {
          if (from.port === server.port && sameAddress(from.address, server.host)) accept(bytes);
        });
        socket.send(dnsPacket.encode(query), server.port, server.host);
      } else {
        const socket = connect({ host: server.host, port: server.port });
        finish = () => socket.destroy();
        let received = Buffer.alloc(0);
        socket.on('error', fail);
        socket.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          // Each TCP message is preceded by its length (RFC 1035 section 4.2.2).
          if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0) && !accept(received.subarray(2, 2 + received.readUInt16BE(0)))) {
            fail(new Error(`an answer over TCP that is not the one to ${type} ${name}`));
          }
        });
        socket.on('close', () => fail(new Error('the TCP connection closed before the answer')));
        socket.write(dnsPacket.streamEncode(query));
      }
    });
  }
}

/** Whether the answer is to our question (names compare without case, RFC 4343). */
function asks(packet: DecodedPacket, name: string, type: QueryType): boolean {
  const question = packet.questions?.[0];
  return question !== undefined && question.type === type && sameName(question.name, name);
}

export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, '') === b.replace(/^::ffff:/, '');
}

export function serverName({ host, port }: DnsServer): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
