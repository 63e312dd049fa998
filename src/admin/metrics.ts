/**
 * @module /metrics as Prometheus text exposition 0.0.4: one `Stats` reading (stats.ts)
 * plus the process figures the main thread knows, formatted by one pure function. Every
 * family has HELP and TYPE; counters end in `_total`; times are in seconds, sizes in
 * bytes; label values are escaped as the format requires.
 */
import type { NameStatus } from '../discovery/name-follower.ts';
import { LATENCY_BOUNDS_MICROS, type FailureReason } from '../shared/layout.ts';
import { STATUS_CLASSES, type BackendStats, type ListenerStats, type Stats } from './stats.ts';

/** What the scrape adds to the shared-memory reading: figures of the process and the supervisor. */
export interface MetricsExtras {
  /** User + system CPU of the whole process (every thread), seconds. */
  readonly cpuSeconds: number;
  readonly residentBytes: number;
  /** Unix time the balancer started, seconds. */
  readonly startTimeSeconds: number;
  /** Restarts of each listener thread after dying, by listener index. */
  readonly listenerRestarts: readonly number[];
  /** package.json's version. */
  readonly version: string;
  /** process.version. */
  readonly node: string;
  /** Each DNS name followed (--backend-dns, --backend-srv). */
  readonly discovery: readonly NameStatus[];
}

/** The `reason` label of each failure reason counted in shared memory. */
export const FAILURE_LABELS: Readonly<Record<Exclude<FailureReason, 'none'>, string>> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'broken_pipe',
  CONNECT_TIMEOUT: 'connect_timeout',
  HEADERS_TIMEOUT: 'headers_timeout',
  BODY_TIMEOUT: 'body_timeout',
  UPSTREAM_CLOSED: 'socket_closed',
  LENGTH_MISMATCH: 'length_mismatch',
  EHOSTUNREACH: 'host_unreachable',
  ENETUNREACH: 'network_unreachable',
  ENOTFOUND: 'dns_not_found',
  EAI_AGAIN: 'dns_failure',
  TLS: 'tls',
  'malformed response': 'malformed_response',
  '5xx response': 'status_5xx',
  other: 'other',
};
const FAILURE_ENTRIES = Object.entries(FAILURE_LABELS) as ReadonlyArray<[Exclude<FailureReason, 'none'>, string]>;

/** The histogram's `le` values, formatted once: the bounds in seconds, then `+Inf`. */
const BUCKET_LABELS: readonly string[] = [...LATENCY_BOUNDS_MICROS.map((micros) => String(micros / 1e6)), '+Inf'];

type MetricType = 'counter' | 'gauge' | 'histogram';

/** Accumulates the exposition text; families are written whole, one after another. */
class Exposition {
  #text = '';

  family(name: string, type: MetricType, help: string): void {
    this.#text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  }

  /** `labels` is already formatted (`a="x",b="y"`), or empty. */
  sample(name: string, labels: string, value: number): void {
    this.#text += labels === '' ? `${name} ${formatValue(value)}\n` : `${name}{${labels}} ${formatValue(value)}\n`;
  }

  get text(): string {
    return this.#text;
  }
}

export function formatMetrics(stats: Stats, extras: MetricsExtras): string {
  const out = new Exposition();
  const labelled = stats.backends.map((backend) => ({ backend, labels: `backend="${escapeLabel(backend.origin)}",id="${backend.id}"` }));
  const perBackend = (name: string, type: MetricType, help: string, value: (backend: BackendStats) => number): void => {
    out.family(name, type, help);
    for (const { backend, labels } of labelled) out.sample(name, labels, value(backend));
  };

  perBackend('switchyard_backend_requests_total', 'counter', 'Attempts sent to the backend, retries included.', (b) => b.started);
  out.family('switchyard_backend_responses_total', 'counter', 'Response heads the backend sent, by status class.');
  for (const { backend, labels } of labelled) {
    for (const code of STATUS_CLASSES) out.sample('switchyard_backend_responses_total', `${labels},code="${code}"`, backend.responses[code]);
  }
  out.family('switchyard_backend_failures_total', 'counter', 'Attempts that failed at the backend, by reason.');
  for (const { backend, labels } of labelled) {
    for (const [reason, label] of FAILURE_ENTRIES) out.sample('switchyard_backend_failures_total', `${labels},reason="${label}"`, backend.failuresBy[reason]);
  }
  perBackend('switchyard_backend_retries_total', 'counter', 'Attempts sent to the backend as a retry of a failure elsewhere.', (b) => b.retries);
  perBackend('switchyard_backend_ejections_total', 'counter', 'Times the backend was ejected by passive health, failed trials included.', (b) => b.ejections);
  perBackend('switchyard_backend_trials_total', 'counter', 'Trial requests sent to the backend after an ejection ran out.', (b) => b.trials);
  perBackend('switchyard_backend_in_flight', 'gauge', 'Attempts running at the backend now.', (b) => b.inFlight);
  perBackend('switchyard_backend_up', 'gauge', '1 while picks may choose the backend (active, healthy, not ejected), else 0.', (b) => (b.up ? 1 : 0));
  perBackend('switchyard_backend_ejected', 'gauge', '1 while the backend is ejected or on trial, else 0.', (b) => (b.ejection === 'in' ? 0 : 1));
  perBackend('switchyard_backend_weight', 'gauge', 'Configured weight of the backend.', (b) => b.weight);
  perBackend('switchyard_backend_effective_weight', 'gauge', 'Weight picks use now: lower while slow start ramps it up.', (b) => b.effectiveWeight);
  perBackend('switchyard_backend_tier', 'gauge', 'Preference tier of the backend (an SRV priority, else 0): picks use the lowest tier that has a backend up.', (b) => b.tier);
  perBackend('switchyard_backend_ewma_seconds', 'gauge', 'Peak-EWMA time to response headers that picks see now; 0 before any sample.', (b) => b.ewmaMicros / 1e6);

  const histogram = 'switchyard_backend_response_seconds';
  out.family(histogram, 'histogram', 'Time from sending a request to the backend until its response headers arrived.');
  for (const { backend, labels } of labelled) {
    const { cells, sumMicros, count } = backend.latency;
    let cumulative = 0;
    for (let cell = 0; cell < BUCKET_LABELS.length; cell++) {
      cumulative += cells[cell] ?? 0;
      out.sample(`${histogram}_bucket`, `${labels},le="${BUCKET_LABELS[cell]}"`, cumulative);
    }
    out.sample(`${histogram}_sum`, labels, sumMicros / 1e6);
    out.sample(`${histogram}_count`, labels, count);
  }

  const perListener = (name: string, type: MetricType, help: string, value: (listener: ListenerStats) => number): void => {
    out.family(name, type, help);
    for (const listener of stats.listeners) out.sample(name, `listener="${listener.index}"`, value(listener));
  };
  perListener('switchyard_listener_connections_total', 'counter', 'Client connections the listener thread accepted.', (l) => l.connections);
  perListener('switchyard_listener_connections_open', 'gauge', 'Client connections open at the listener thread now.', (l) => l.connectionsOpen);
  perListener('switchyard_listener_requests_total', 'counter', 'Client requests the listener thread received.', (l) => l.requests);
  perListener('switchyard_listener_tunnels_open', 'gauge', 'Upgraded connections (WebSocket) the listener thread relays now.', (l) => l.tunnelsOpen);
  perListener('switchyard_listener_accepting', 'gauge', '1 while the listener thread accepts connections, else 0.', (l) => (l.accepting ? 1 : 0));
  perListener('switchyard_listener_event_loop_delay_p99_seconds', 'gauge', "99th percentile of the listener thread's event-loop delay over its last window.", (l) => l.loopDelayP99Micros / 1e6);
  perListener('switchyard_listener_event_loop_delay_max_seconds', 'gauge', "Largest event-loop delay of the listener thread in its last window.", (l) => l.loopDelayMaxMicros / 1e6);
  perListener('switchyard_listener_restarts_total', 'counter', 'Times the listener thread was restarted after dying.', (l) => extras.listenerRestarts[l.index] ?? 0);

  out.family('switchyard_balancer_responses_total', 'counter', 'Requests the balancer answered itself, by status and error code (499: the client left first; never sent).');
  for (const { code, status, count } of stats.answered) out.sample('switchyard_balancer_responses_total', `status="${status}",error="${code}"`, count);
  const perName = (name: string, type: MetricType, help: string, value: (name: NameStatus) => number): void => {
    out.family(name, type, help);
    for (const status of extras.discovery) out.sample(name, `source="${escapeLabel(status.source)}"`, value(status));
  };
  perName('switchyard_discovery_last_success_timestamp_seconds', 'gauge', 'When the DNS name last resolved to backends, seconds since the Unix epoch; 0 before the first time.', (n) => (n.lastSuccessAt ?? 0) / 1000);
  perName('switchyard_discovery_answers', 'gauge', 'Backends the DNS name gives now (its last good answer while resolution fails).', (n) => n.answers);
  perName('switchyard_discovery_failures_total', 'counter', 'Resolutions of the DNS name that failed or came back empty.', (n) => n.failures);
  perName('switchyard_discovery_stale', 'gauge', '1 while the last resolution of the DNS name failed or was empty and its last good set is in use, else 0.', (n) => (n.stale ? 1 : 0));

  const single = (name: string, type: MetricType, help: string, value: number, labels = ''): void => {
    out.family(name, type, help);
    out.sample(name, labels, value);
  };
  single('switchyard_requests_in_flight', 'gauge', 'Client requests being proxied now.', stats.requestsInFlight);
  single('switchyard_retry_budget_in_flight', 'gauge', 'Retry attempts running now: the part of the shared retry budget in use.', stats.retries.inFlight);
  single('switchyard_retry_budget_peak', 'gauge', 'Highest number of retry attempts ever running at once.', stats.retries.peak);
  single('switchyard_retries_refused_total', 'counter', 'Retries not sent because the retry budget was spent.', stats.retries.refused);
  single('switchyard_ejected_backends', 'gauge', 'Backends ejected or on trial now.', stats.ejected);
  single('switchyard_ejections_refused_total', 'counter', 'Ejections not made because of --max-ejected or the last eligible backend.', stats.ejectionsRefused);
  single('switchyard_proxy_header_refused_total', 'counter', 'Client connections closed for want of a valid PROXY protocol header.', stats.proxyHeaderRefused);
  single('switchyard_http2_reset_flood_closed_total', 'counter', 'HTTP/2 client connections closed for resetting streams too fast (Rapid Reset).', stats.h2ResetFloods);
  single('switchyard_membership_generation', 'gauge', 'Membership generation: +1 on every change of the backends, their state or weight.', stats.generation);
  single('switchyard_round_robin_ticket', 'gauge', 'Next round-robin ticket (folds back to 0 at a multiple of the total weight).', stats.roundRobin.next);
  single('process_cpu_seconds_total', 'counter', 'User and system CPU time of the process, every thread included.', extras.cpuSeconds);
  single('process_resident_memory_bytes', 'gauge', 'Resident set size of the process.', extras.residentBytes);
  single('process_start_time_seconds', 'gauge', 'Start time of the balancer since the Unix epoch.', extras.startTimeSeconds);
  single('switchyard_build_info', 'gauge', 'Always 1; labels give the switchyard and Node.js versions.', 1, `version="${escapeLabel(extras.version)}",node="${escapeLabel(extras.node)}"`);
  return out.text;
}

/** Label values: backslash, double quote and line feed are escaped (text format 0.0.4). */
export function escapeLabel(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`)) : value;
}

/** HELP text: backslash and line feed are escaped (a double quote is not). */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}
