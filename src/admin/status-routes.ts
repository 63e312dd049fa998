/**
 * @module The read-only admin routes: GET/HEAD /metrics (Prometheus text, metrics.ts),
 * /status (the whole picture as JSON) and /healthz (for orchestrators). Each reads shared
 * memory once, at request time, through `context.stats()`.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Config } from '../config/config.ts';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { FAILURE_LABELS, formatMetrics, type MetricsExtras } from './metrics.ts';
import { refuseMethod, sendJson, sendRefusal, sendText } from './respond.ts';
import { histogramQuantile, statusOf, type BackendStats, type BackendStatus, type Stats } from './stats.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Read once: build_info and /status name the version that is running. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const READ_METHODS = ['GET', 'HEAD'] as const;

export const statusRoutes: AdminRoute = (req, res, url, context) => {
  const path = url.pathname;
  if (path !== '/metrics' && path !== '/status' && path !== '/healthz') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    refuseMethod(res, req.method, path, READ_METHODS);
    return true;
  }
  const stats = context.stats();
  if (path === '/metrics') sendText(res, 200, formatMetrics(stats, processFigures(context)), METRICS_CONTENT_TYPE);
  else if (path === '/status') sendJson(res, 200, statusReport(stats, context, req.socket.localPort ?? 0));
  else answerHealth(res, stats);
  return true;
};

function processFigures(context: AdminContext): MetricsExtras {
  const cpu = process.cpuUsage();
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: process.memoryUsage.rss(),
    startTimeSeconds: context.startedAt / 1000,
    listenerRestarts: context.listeners.map((thread) => thread.restarts),
    discovery: context.discovery(),
    version: VERSION,
    node: process.version,
  };
}

// --- /healthz -------------------------------------------------------------------------

/** 200 while a client could be served: a listener accepts and a backend may be picked. */
function answerHealth(res: ServerResponse, stats: Stats): void {
  const threads = stats.listeners.length;
  const accepting = stats.listeners.filter((listener) => listener.accepting).length;
  const up = stats.backends.filter((backend) => backend.up).length;
  if (accepting === 0) return sendRefusal(res, 503, `no listener thread is accepting connections (0 of ${threads})`);
  if (stats.backends.length === 0) return sendRefusal(res, 503, 'no backend is configured');
  if (up === 0) return sendRefusal(res, 503, `no backend is up (${stats.backends.length}: ${whyNotUp(stats.backends)})`);
  sendText(res, 200, `ok: ${accepting} of ${threads} listener threads accepting, ${up} of ${stats.backends.length} backends up\n`);
}

/** How /healthz words a status other than up. */
const NOT_UP: Readonly<Record<Exclude<BackendStatus, 'up'>, string>> = {
  disabled: 'disabled',
  draining: 'draining',
  down: 'failing health checks',
  trial: 'on trial',
  ejected: 'ejected',
};

/** `2 disabled, 1 ejected`: why the backends that are not up are not. */
function whyNotUp(backends: readonly BackendStats[]): string {
  const reasons = new Map<string, number>();
  for (const backend of backends) {
    const status = statusOf(backend);
    if (status === 'up') continue;
    const reason = NOT_UP[status];
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return [...reasons].map(([reason, count]) => `${count} ${reason}`).join(', ');
}

// --- /status --------------------------------------------------------------------------

/** `adminPort`: the port this request came in on (the bound one, also with --admin-port 0). */
function statusReport(stats: Stats, context: AdminContext, adminPort: number) {
  const uptimeMs = Date.now() - context.startedAt;
  return {
    version: VERSION,
    node: process.version,
    startedAt: new Date(context.startedAt).toISOString(),
    uptimeSeconds: Math.round(uptimeMs) / 1000,
    config: configSummary(context.config, adminPort),
    generation: stats.generation,
    roundRobin: { ticket: stats.roundRobin.next, wrap: stats.roundRobin.wrap },
    requestsInFlight: stats.requestsInFlight,
    retryBudget: { inFlight: stats.retries.inFlight, peak: stats.retries.peak, refused: stats.retries.refused },
    ejectedBackends: stats.ejected,
    ejectionsRefused: stats.ejectionsRefused,
    /** The balancer's own answers, by error code (zeros left out). */
    answered: Object.fromEntries(stats.answered.filter(({ count }) => count > 0).map(({ code, status, count }) => [code, { status, count }])),
    backends: stats.backends.map(backendStatus),
    listeners: stats.listeners.map((listener) => ({
      index: listener.index,
      accepting: listener.accepting,
      connections: listener.connections,
      connectionsOpen: listener.connectionsOpen,
      requests: listener.requests,
      requestsInFlight: listener.requestsInFlight,
      eventLoopDelay: { p99Ms: millis(listener.loopDelayP99Micros), maxMs: millis(listener.loopDelayMaxMicros) },
      restarts: context.listeners[listener.index]?.restarts ?? 0,
    })),
    /** Each DNS name followed (--backend-dns, --backend-srv). */
    discovery: context.discovery().map((name) => ({
      source: name.source,
      lastSuccessAt: name.lastSuccessAt === null ? null : new Date(name.lastSuccessAt).toISOString(),
      answers: name.answers,
      failures: name.failures,
      stale: name.stale,
      problem: name.problem,
      nextInSeconds: name.nextInSeconds,
    })),
  };
}

function backendStatus(backend: BackendStats) {
  const p50 = histogramQuantile(backend.latency.cells, 0.5);
  const p99 = histogramQuantile(backend.latency.cells, 0.99);
  return {
    id: backend.id,
    origin: backend.origin,
    state: backend.state,
    healthy: backend.healthy,
    up: backend.up,
    ejection: backend.ejection,
    ejectedForMs: backend.ejectedForMs,
    ejectionLevel: backend.ejectionLevel,
    weight: backend.weight,
    effectiveWeight: backend.effectiveWeight,
    tier: backend.tier,
    inFlight: backend.inFlight,
    consecutiveFailures: backend.consecutiveFailures,
    requests: backend.started,
    retries: backend.retries,
    failures: backend.failures,
    ejections: backend.ejections,
    trials: backend.trials,
    responses: backend.responses,
    failuresBy: Object.fromEntries(Object.entries(FAILURE_LABELS).map(([reason, label]) => [label, backend.failuresBy[reason as keyof typeof FAILURE_LABELS]])),
    latency: {
      count: backend.latency.count,
      p50Ms: p50 === null ? null : millis(p50),
      p99Ms: p99 === null ? null : millis(p99),
      ewmaMs: millis(backend.ewmaMicros),
    },
  };
}

/** What a reader needs to know the balancer is running as intended; never a secret
 * (the admin token, the sticky-cookie secret). */
function configSummary(config: Config, adminPort: number) {
  const { routing, admin } = config;
  return {
    host: config.host,
    port: config.port,
    threads: config.threads,
    maxBackends: config.maxBackends,
    algorithm: routing.algorithm,
    hashKey: routing.hashKey,
    hashBalanceFactor: routing.hashBalanceFactor,
    sticky: routing.sticky === null ? null : { cookie: routing.sticky.cookie },
    retries: routing.retries,
    slowStartMs: routing.slowStartMs,
    health: config.health,
    ejection: config.ejection,
    upstream: config.upstream,
    client: config.client,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    discovery: { names: config.discovery.names.map((name) => name.source), resolvers: config.discovery.resolvers, staleMs: config.discovery.staleMs },
    admin: admin === null ? null : { host: admin.host, port: adminPort, tokenRequired: admin.token !== null },
    accessLog: config.accessLog,
  };
}

/** µs to ms, kept to the µs. */
function millis(micros: number): number {
  return Math.round(micros) / 1000;
}
