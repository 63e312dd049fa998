/**
 * @module DNS discovery on the main thread (the control plane): one DNS client for every
 * followed name (the --resolver servers, else the system's), one follower per
 * --backend-dns and --backend-srv name, and their status for /metrics and /status.
 * Listener threads never resolve names: they see DNS's answers as slots of the table.
 * `reconfigure` applies a new set of names (a config reload) without touching the names
 * that stay as they were.
 */
import { getServers } from 'node:dns';
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { DiscoveryConfig, DnsNameConfig } from '../config/config.ts';
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
  readonly #options: DiscoveryOptions;
  #config: DiscoveryConfig;
  #client: DnsClient | null = null;
  /** By source (`dns:NAME:PORT`, `srv:NAME`). */
  readonly #followers = new Map<string, NameFollower>();

  constructor(config: DiscoveryConfig, options: DiscoveryOptions) {
    this.#options = options;
    this.#config = config;
    for (const spec of config.names) this.#follow(spec);
  }

  /** The DNS servers asked, in order (for the start-up line). */
  get servers(): readonly DnsServer[] {
    return this.#client?.servers ?? [];
  }

  /** Resolves every name once, before the listeners start (a name that fails is retried
   * in the background). */
  async start(): Promise<void> {
    await Promise.all([...this.#followers.values()].map((follower) => follower.start({ initial: true })));
  }

  /**
   * Follows the names of `config` from now on: a name no longer given is forgotten (its
   * backends drain and leave), a new or changed one is resolved at once, the others go on
   * untouched. New resolvers or a new stale window start every name afresh (their
   * backends are kept: the first answer names them again). Resolves once every new name
   * has been resolved once.
   */
  async reconfigure(config: DiscoveryConfig): Promise<void> {
    const afresh = !isDeepStrictEqual(config.resolvers, this.#config.resolvers) || config.staleMs !== this.#config.staleMs;
    const wanted = new Map(config.names.map((spec) => [spec.source, spec]));
    for (const [source, follower] of this.#followers) {
      const spec = wanted.get(source);
      if (!afresh && spec !== undefined && isDeepStrictEqual(spec, follower.spec)) continue;
      follower.stop();
      this.#followers.delete(source);
      if (spec === undefined) this.#options.sources.forget(source);
    }
    if (afresh) {
      this.#client?.close();
      this.#client = null;
    }
    this.#config = config;
    const started: Array<Promise<void>> = [];
    for (const spec of config.names) {
      if (!this.#followers.has(spec.source)) started.push(this.#follow(spec).start({ initial: false }));
    }
    await Promise.all(started);
  }

  stop(): void {
    for (const follower of this.#followers.values()) follower.stop();
    this.#client?.close();
  }

  status(): NameStatus[] {
    return [...this.#followers.values()].map((follower) => follower.status());
  }

  #follow(spec: DnsNameConfig): NameFollower {
    const { resolvers, staleMs } = this.#config;
    this.#client ??= new DnsClient(resolvers.length > 0 ? resolvers : systemServers());
    const follower = new NameFollower(spec, { client: this.#client, sources: this.#options.sources, log: this.#options.log, staleMs });
    this.#followers.set(spec.source, follower);
    return follower;
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
