/**
 * @module DNS discovery on the main thread (the control plane): one DNS client for every
 * followed name (the --resolver servers, else the system's), one follower per
 * --backend-dns and --backend-srv name, and their status for /metrics and /status.
 * Listener threads never resolve names: they see DNS's answers as slots of the table.
 */
import { getServers } from 'node:dns';
import { isIP } from 'node:net';
import type { DiscoveryConfig } from '../config/config.ts';
import type { BackendSources } from '../control/backend-sources.ts';
import { DnsClient, type DnsServer } from './dns-client.ts';
import { NameFollower, type NameStatus } from './name-follower.ts';

export type { NameStatus };

export interface DiscoveryOptions {
  readonly sources: BackendSources;
  /** Problems and changes, one line each (the event log). */
  readonly log: (line: string) => void;
}

export class Discovery {
  readonly #client: DnsClient | null;
  readonly #followers: NameFollower[];

  constructor(config: DiscoveryConfig, { sources, log }: DiscoveryOptions) {
    this.#client = config.names.length === 0 ? null : new DnsClient(config.resolvers.length > 0 ? config.resolvers : systemServers());
    const client = this.#client;
    this.#followers = client === null ? [] : config.names.map((spec) => new NameFollower(spec, { client, sources, log, staleMs: config.staleMs }));
  }

  /** The DNS servers asked, in order (for the start-up line). */
  get servers(): readonly DnsServer[] {
    return this.#client?.servers ?? [];
  }

  /** Resolves every name once (a name that fails is retried in the background). */
  async start(): Promise<void> {
    await Promise.all(this.#followers.map((follower) => follower.start()));
  }

  stop(): void {
    for (const follower of this.#followers) follower.stop();
    this.#client?.close();
  }

  status(): NameStatus[] {
    return this.#followers.map((follower) => follower.status());
  }
}

/** The system's DNS servers as node:dns read them (/etc/resolv.conf); 127.0.0.1:53 when
 * it lists none, as resolv.conf's own default is. */
function systemServers(): DnsServer[] {
  const servers = getServers().flatMap((entry): DnsServer[] => {
    const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(entry);
    if (bracketed) return [{ host: bracketed[1] as string, port: Number(bracketed[2]) }];
    if (isIP(entry) !== 0) return [{ host: entry, port: 53 }];
    const withPort = /^([^:]+):(\d+)$/.exec(entry);
    return withPort ? [{ host: withPort[1] as string, port: Number(withPort[2]) }] : [];
  });
  return servers.length > 0 ? servers : [{ host: '127.0.0.1', port: 53 }];
}
