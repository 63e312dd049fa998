/**
 * @module The validated, frozen configuration every thread runs with, and its defaults.
 * It is plain data so that it crosses into worker threads as `workerData` unchanged.
 */
import type { AlgorithmName } from '../routing/algorithms/names.ts';
import type { ServedCertificate } from '../tls/certificates.ts';

/** How the balancer talks to backends: timeouts, and how many connections it may open. */
export interface UpstreamConfig {
  /** TCP connect to a backend (nginx proxy_connect_timeout, HAProxy timeout connect). */
  readonly connectMs: number;
  /** From the request sent until the response headers arrive (nginx proxy_read_timeout for the first byte). */
  readonly headersMs: number;
  /** Longest silence between two chunks of a response body. */
  readonly bodyIdleMs: number;
  /**
   * Most connections each listener thread opens to one backend (HAProxy's maxconn per
   * server); a request beyond waits for a free one, first come first served, at most
   * connectMs, then gets 503. null: no limit.
   */
  readonly maxConnections: number | null;
  /** How `https://` backends are verified. */
  readonly tls: BackendTlsConfig;
  /** --send-proxy-protocol: each upstream connection starts with a PROXY header naming
   * its client, and so serves that client's connection only; null: off. */
  readonly sendProxyProtocol: 'v1' | 'v2' | null;
}

/** Verification of HTTPS backends: their certificate must chain to a trusted authority
 * and name the host the backend was given by. */
export interface BackendTlsConfig {
  /** --backend-ca: PEM certificates trusted instead of the default ones; null: Node's
   * bundled authorities and the system's. */
  readonly ca: readonly string[] | null;
  /** --backend-insecure: no verification (logged at start). */
  readonly insecure: boolean;
}

export interface ClientLimits {
  /** The whole request head must arrive within this (slowloris). */
  readonly headersTimeoutMs: number;
  /** Longest silence between two chunks of a request body. */
  readonly bodyIdleMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** An upgraded connection (WebSocket) silent both ways this long is closed. */
  readonly tunnelIdleMs: number;
  /** Upgrade tokens relayed (lower-case): `websocket`, and those --allow-upgrade names.
   * Any other Upgrade header is dropped and the request relayed as plain HTTP. */
  readonly upgrades: readonly string[];
  /** Request line plus headers, in bytes: beyond it, 431. */
  readonly maxHeaderBytes: number;
  /** Request target, in bytes: beyond it, 414. */
  readonly maxUrlBytes: number;
  /** Request body, in bytes: beyond it, 413 (null: no limit). */
  readonly maxBodyBytes: number | null;
  /** Open client connections per listener thread: beyond it, new ones are closed at once. */
  readonly maxConnections: number;
  /** --accept-proxy-protocol: every connection starts with a PROXY protocol header (v1 or
   * v2) naming the client; one without a valid header is closed. */
  readonly acceptProxyProtocol: boolean;
  /** --h2c: a plain-HTTP connection that opens with the HTTP/2 preface speaks HTTP/2
   * (prior knowledge). Over TLS, HTTP/2 is offered by ALPN always. */
  readonly h2c: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS of an HTTP/2 connection (--h2-max-streams). */
  readonly h2MaxStreams: number;
}

export interface BackendConfig {
  /** `http://host:port`: the backend's identity in the slot table. */
  readonly origin: string;
  /** Relative weight, 1..1000. */
  readonly weight: number;
}

/** A DNS name followed for backends (--backend-dns, --backend-srv). */
export interface DnsNameConfig {
  /** `dns`: A and AAAA records, every address a backend at `port`; `srv`: SRV records. */
  readonly kind: 'dns' | 'srv';
  /** Its name as a source of backends (control/backend-sources.ts), in logs and metrics:
   * `dns:NAME:PORT` or `srv:NAME`. */
  readonly source: string;
  readonly scheme: 'http';
  /** Lower case, without a trailing dot. */
  readonly name: string;
  /** The backends' port (`dns`); null for `srv`, whose records carry it. */
  readonly port: number | null;
  /** Every address's weight (`dns`); SRV records carry their own. */
  readonly weight: number;
}

/** DNS discovery: the names followed and how. */
export interface DiscoveryConfig {
  readonly names: readonly DnsNameConfig[];
  /** --resolver: the DNS servers asked, in order; empty: the system's (node:dns's list). */
  readonly resolvers: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** --dns-stale-window: how long a name's last good set is kept while its resolution
   * fails or comes back empty (see discovery/name-follower.ts for what happens after). */
  readonly staleMs: number;
}

/** What consistent hashing hashes (--hash-key). */
export type HashKeySpec =
  | { readonly from: 'ip' }
  | { readonly from: 'path' }
  | { readonly from: 'header' | 'cookie' | 'query'; readonly name: string };

export interface RoutingConfig {
  readonly algorithm: AlgorithmName;
  readonly hashKey: HashKeySpec;
  /** Bounded-load consistent hashing: no backend above this x the mean load; 0 = off. */
  readonly hashBalanceFactor: number;
  /** Session persistence on top of the algorithm; null = off. */
  readonly sticky: { readonly cookie: string; readonly secret: string } | null;
  /** Tries on other backends after a failed attempt. */
  readonly retries: number;
  /** Linear ramp of a rejoined or added backend's share from 10% to 100%; 0 = off. */
  readonly slowStartMs: number;
}

/** Active health checks: one probe per interval per backend, from the main thread. */
export interface HealthCheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed probes that mark a backend down. */
  readonly fall: number;
  /** Consecutive passed probes that mark it up (and end an ejection that ran out). */
  readonly rise: number;
}

/** Passive health: ejection on failures of real traffic. */
export interface EjectionConfig {
  /** Consecutive failures that eject; 0 = never. */
  readonly after: number;
  /** Count 5xx responses as failures too. */
  readonly on5xx: boolean;
  /** First ejection; doubles per consecutive ejection up to 5 minutes. */
  readonly timeMs: number;
  /** At most this share of the active backends ejected at once, percent. */
  readonly maxPercent: number;
}

/** The admin listener: /metrics, /status, /healthz, the dashboard and the runtime API. */
export interface AdminConfig {
  /** 127.0.0.1 unless a token is set. */
  readonly host: string;
  /** 0 means ephemeral. */
  readonly port: number;
  /** Every admin request must carry `Authorization: Bearer <token>`; null: no check (loopback only). */
  readonly token: string | null;
}

/** TLS termination: the balancer's port speaks HTTPS. */
export interface TlsConfig {
  /** Served by the names they carry (SNI); the first to clients that name no known host. */
  readonly certificates: readonly ServedCertificate[];
  /** --redirect-http: a plain-HTTP port answering 308 to the https:// URL; null: none; 0: ephemeral. */
  readonly redirectHttpPort: number | null;
}

/** Where the access log goes: one JSON line per request. */
export type AccessLogConfig = { readonly to: 'stdout' | 'stderr' } | { readonly to: 'file'; readonly path: string };

export interface Config {
  readonly host: string;
  /** 0 means ephemeral. */
  readonly port: number;
  /** External backends; empty (and no DNS names) means the embedded demo backends (src/main.ts starts them). */
  readonly backends: readonly BackendConfig[];
  /** Backends found through DNS, re-resolved as their records expire. */
  readonly discovery: DiscoveryConfig;
  readonly spawnBackends: number;
  readonly threads: number;
  /** Slot capacity of the shared table (--max-backends). */
  readonly maxBackends: number;
  readonly routing: RoutingConfig;
  /** null: passive checks only. */
  readonly health: HealthCheckConfig | null;
  readonly ejection: EjectionConfig;
  readonly upstream: UpstreamConfig;
  readonly client: ClientLimits;
  /** How long SIGTERM/SIGINT waits for in-flight requests before aborting them. */
  readonly shutdownTimeoutMs: number;
  /** null: --admin-port off. */
  readonly admin: AdminConfig | null;
  /** null: --access-log off. */
  readonly accessLog: AccessLogConfig | null;
  /** null: plain HTTP (no --tls-cert). */
  readonly tls: TlsConfig | null;
  /** --pid-file: where the serving process's PID is written; null: nowhere. */
  readonly pidFile: string | null;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  spawnBackends: 2,
  maxBackends: 64,
  routing: {
    algorithm: 'round-robin',
    hashKey: { from: 'ip' },
    hashBalanceFactor: 0,
    sticky: null,
    retries: 2,
    slowStartMs: 0,
  },
  health: { intervalMs: 2_000, timeoutMs: 1_000, fall: 3, rise: 2 },
  ejection: { after: 3, on5xx: false, timeMs: 10_000, maxPercent: 50 },
  upstream: { connectMs: 5_000, headersMs: 30_000, bodyIdleMs: 30_000, maxConnections: null, tls: { ca: null, insecure: false }, sendProxyProtocol: null },
  client: {
    headersTimeoutMs: 10_000,
    bodyIdleMs: 30_000,
    keepAliveMs: 10_000,
    tunnelIdleMs: 3_600_000,
    upgrades: ['websocket'],
    maxHeaderBytes: 16 * 1024,
    maxUrlBytes: 8 * 1024,
    maxBodyBytes: null,
    maxConnections: 10_000,
    acceptProxyProtocol: false,
    h2c: false,
    h2MaxStreams: 100,
  },
  shutdownTimeoutMs: 15_000,
  discovery: { names: [], resolvers: [], staleMs: 300_000 },
  admin: { host: '127.0.0.1', port: 9901, token: null },
  accessLog: null,
  tls: null,
  pidFile: null,
} as const satisfies Omit<Config, 'threads' | 'backends' | 'health'> & { health: Omit<HealthCheckConfig, 'path'> };

/** No backend is listed and no DNS name followed: the embedded demo backends serve
 * (src/main.ts starts them). The one test of it, wherever a config is judged. */
export function runsDemoBackends(config: Pick<Config, 'backends' | 'discovery'>): boolean {
  return config.backends.length === 0 && config.discovery.names.length === 0;
}
